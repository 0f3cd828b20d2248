//! Packing speech pieces into windows for Whisper, which always encodes 30 s at a time
//! (`WHISPER_CHUNK_SIZE`): a window holds as many whole pieces as fit, separated by short
//! gaps of silence, so silence between utterances costs no encoder passes. Each window keeps
//! the map from its own timeline back to the recording's.

use super::vad::Piece;

/// Samples per second of the 16 kHz timeline.
const RATE: u64 = 16_000;

/// A stretch of a window copied from the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Where it sits in the window (samples).
    pub window_offset: usize,
    /// Where it came from in the recording (samples on the 16 kHz timeline).
    pub original_start: u64,
    pub len: usize,
}

/// Audio for one model call, with its map back to the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub samples: Vec<f32>,
    pub spans: Vec<Span>,
}

impl Window {
    /// Maps a time in the window (ms) to the recording (ms). A time in a gap between spans maps
    /// to the start of the next span (or the end of the last one).
    pub fn to_original_ms(&self, window_ms: u64) -> u64 {
        let at = (window_ms * RATE / 1000) as usize;
        for span in &self.spans {
            if at < span.window_offset {
                return span.original_start * 1000 / RATE;
            }
            if at < span.window_offset + span.len {
                return (span.original_start + (at - span.window_offset) as u64) * 1000 / RATE;
            }
        }
        self.end_ms()
    }

    /// Where the window's first sample came from (ms in the recording).
    pub fn start_ms(&self) -> u64 {
        self.spans.first().map_or(0, |s| s.original_start * 1000 / RATE)
    }

    /// Where the window's last sample came from (ms in the recording).
    pub fn end_ms(&self) -> u64 {
        self.spans.last().map_or(0, |s| (s.original_start + s.len as u64) * 1000 / RATE)
    }

    /// Window duration in ms.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / RATE
    }
}

/// Packs pieces into windows of at most `max_samples`.
#[derive(Debug)]
pub struct WindowPacker {
    max_samples: usize,
    gap_samples: usize,
    current: Option<Window>,
}

impl WindowPacker {
    /// Whisper's limit: 30 s.
    pub const MAX_WINDOW_SAMPLES: usize = 30 * RATE as usize;
    /// Silence put between pieces in one window: 0.3 s, a short pause to the model.
    pub const GAP_SAMPLES: usize = 3 * RATE as usize / 10;
    /// A piece is split to fill a window only when at least this much room (4 s) is left.
    pub const MIN_SPLIT_SAMPLES: usize = 4 * RATE as usize;

    pub fn new(max_samples: usize) -> Self {
        Self { max_samples: max_samples.clamp(RATE as usize, Self::MAX_WINDOW_SAMPLES), gap_samples: Self::GAP_SAMPLES, current: None }
    }

    /// Samples held in the window being filled.
    pub fn buffered(&self) -> usize {
        self.current.as_ref().map_or(0, |w| w.samples.len())
    }

    /// Adds a piece; returns a full window when the piece did not fit in the current one.
    /// A piece longer than the window limit is split (the VAD normally cuts long regions first).
    pub fn push(&mut self, piece: Piece) -> Vec<Window> {
        let mut ready = Vec::new();
        let mut start = piece.start;
        let mut rest: &[f32] = &piece.samples;
        while !rest.is_empty() {
            let used = self.buffered();
            let gap = if used == 0 { 0 } else { self.gap_samples };
            let room = self.max_samples.saturating_sub(used + gap);
            let take = if rest.len() <= room {
                rest.len()
            } else if used > 0 && room < Self::MIN_SPLIT_SAMPLES {
                // Too little room left to be worth a split: close this window.
                ready.extend(self.current.take());
                continue;
            } else {
                // Fill the window: every window costs a full 30 s encoder pass however short it
                // is, so a split piece is cheaper than a half-empty window. Cut at the quietest
                // 20 ms frame in the last few seconds that fit, i.e. between words.
                quiet_cut(rest, room)
            };
            let window = self.current.get_or_insert_with(|| Window { samples: Vec::new(), spans: Vec::new() });
            window.samples.resize(used + gap, 0.0);
            window.spans.push(Span { window_offset: used + gap, original_start: start, len: take });
            window.samples.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            start += take as u64;
            if self.buffered() >= self.max_samples {
                ready.extend(self.current.take());
            }
        }
        ready
    }

    /// The last, partly filled window.
    pub fn finish(&mut self) -> Option<Window> {
        self.current.take()
    }
}

/// Where to cut `samples` so the first part fits in `room`: the end of the quietest 20 ms frame
/// among the last 3 s that fit.
fn quiet_cut(samples: &[f32], room: usize) -> usize {
    const FRAME: usize = 320;
    let room = room.min(samples.len());
    let search_from = room.saturating_sub(3 * RATE as usize);
    let mut best = (f32::INFINITY, room);
    let mut at = search_from;
    while at + FRAME <= room {
        let energy: f32 = samples[at..at + FRAME].iter().map(|s| s * s).sum();
        if energy < best.0 {
            best = (energy, at + FRAME);
        }
        at += FRAME;
    }
    best.1.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(start_s: f64, len_s: f64) -> Piece {
        Piece { start: (start_s * 16_000.0) as u64, samples: vec![0.1; (len_s * 16_000.0) as usize] }
    }

    #[test]
    fn pieces_share_a_window_until_it_would_pass_thirty_seconds() {
        let mut packer = WindowPacker::new(WindowPacker::MAX_WINDOW_SAMPLES);
        assert!(packer.push(piece(0.0, 10.0)).is_empty());
        assert!(packer.push(piece(60.0, 10.0)).is_empty());
        let full = packer.push(piece(200.0, 12.0));
        assert_eq!(full.len(), 1, "the third piece overflows a window that holds 20.3 s");
        assert_eq!(full[0].spans.len(), 3, "its first part fills the window");
        assert!(full[0].samples.len() <= WindowPacker::MAX_WINDOW_SAMPLES);
        assert!(full[0].samples.len() > 27 * 16_000, "the window is nearly full");
        let last = packer.finish().expect("the rest of the third piece waits in a new window");
        let first_part = full[0].spans[2].len as u64;
        assert_eq!(last.spans[0].original_start, 200 * 16_000 + first_part, "no sample lost or repeated");
        // Too little room: a 10 s piece after 27 s is not split, the window closes.
        let mut packer = WindowPacker::new(WindowPacker::MAX_WINDOW_SAMPLES);
        packer.push(piece(0.0, 27.0));
        let full = packer.push(piece(100.0, 10.0));
        assert_eq!((full.len(), full[0].spans.len()), (1, 1));
    }

    #[test]
    fn a_split_falls_in_the_quietest_frame_that_fits() {
        let mut samples = vec![0.5f32; 10 * 16_000];
        for s in &mut samples[7 * 16_000..7 * 16_000 + 640] {
            *s = 0.0; // a 40 ms pause at 7 s
        }
        let cut = quiet_cut(&samples, 8 * 16_000);
        assert!((7 * 16_000..=7 * 16_000 + 640).contains(&cut), "cut at {cut}");
    }

    #[test]
    fn window_times_map_back_across_gaps_to_the_recording() {
        let mut packer = WindowPacker::new(WindowPacker::MAX_WINDOW_SAMPLES);
        packer.push(piece(5.0, 2.0));
        packer.push(piece(100.0, 3.0));
        let w = packer.finish().unwrap();
        assert_eq!(w.to_original_ms(0), 5_000);
        assert_eq!(w.to_original_ms(1_500), 6_500);
        // Inside the 0.3 s gap: snaps to the next span's start.
        assert_eq!(w.to_original_ms(2_100), 100_000);
        assert_eq!(w.to_original_ms(2_300 + 1_000), 101_000);
        assert_eq!(w.to_original_ms(60_000), w.end_ms());
        assert_eq!(w.end_ms(), 103_000);
    }

    #[test]
    fn a_piece_longer_than_a_window_is_split_without_losing_samples() {
        let mut packer = WindowPacker::new(WindowPacker::MAX_WINDOW_SAMPLES);
        let ready = packer.push(piece(0.0, 70.0));
        let rest = packer.finish().unwrap();
        assert_eq!(ready.len(), 2);
        assert!(ready.iter().all(|w| w.samples.len() <= WindowPacker::MAX_WINDOW_SAMPLES));
        let total: usize = ready.iter().chain([&rest]).map(|w| w.samples.len()).sum();
        assert_eq!(total, 70 * 16_000, "one span per window, nothing lost");
        assert_eq!(rest.end_ms(), 70_000);
    }
}
