//! Voice-activity detection on 16 kHz mono audio, streaming: frames of 20 ms are classified
//! from their energy against an adaptive noise floor and their spectral flatness, and runs of
//! voiced frames become speech pieces (with their position on the original timeline).
//!
//! Why these features: steady noise (hum, fan, white or brown noise) has a stable energy, so
//! the adaptive floor follows it and nothing rises above it; broadband noise bursts are
//! spectrally flat (Wiener entropy near 0.56 for white noise under a Hann window), while voiced
//! speech has harmonics and formants and a flatness well below that (Gray & Markel 1974;
//! Moattar & Homayounpour 2009 use the same pair of features). Digital silence has no energy.
//!
//! Only the current region's samples are held (plus a short lead-in), and a region longer than
//! [`VadConfig::max_piece_samples`] is cut at its quietest frame near the limit, so memory stays
//! bounded however long the recording.

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Samples per analysis frame: 20 ms at 16 kHz.
pub const FRAME: usize = 320;
const FFT_LEN: usize = 512;

/// Tuning, in frames of 20 ms unless named otherwise.
#[derive(Debug, Clone)]
pub struct VadConfig {
    /// A frame is voiced when it is this many dB above the noise floor...
    pub threshold_db: f32,
    /// ...and above this absolute level (dBFS)...
    pub min_level_dbfs: f32,
    /// ...and its spectral flatness is below this.
    pub max_flatness: f32,
    /// Voiced frames needed (within `start_window` frames) to open a region.
    pub start_frames: usize,
    pub start_window: usize,
    /// Unvoiced frames that close a region (the pause length that separates utterances).
    pub end_frames: usize,
    /// Frames of audio kept before a region's first voiced frame and after its last.
    pub pad_frames: usize,
    /// The longest piece handed on; longer regions are cut at a quiet frame.
    pub max_piece_samples: usize,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold_db: 10.0,
            min_level_dbfs: -55.0,
            max_flatness: 0.45,
            start_frames: 6,
            start_window: 10,
            end_frames: 25,
            pad_frames: 10,
            max_piece_samples: 28 * 16_000,
        }
    }
}

/// A stretch of speech: where it starts on the original 16 kHz timeline, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub start: u64,
    pub samples: Vec<f32>,
}

/// What one frame looked like.
#[derive(Debug, Clone, Copy)]
struct FrameInfo {
    level_db: f32,
    voiced: bool,
}

/// The streaming detector. Feed samples with [`Vad::push`]; finished pieces queue up in
/// [`Vad::take_pieces`].
pub struct Vad {
    config: VadConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    fft_in: Vec<f32>,
    fft_out: Vec<realfft::num_complex::Complex<f32>>,
    window: Vec<f32>,
    window_energy: f64,
    /// Samples not yet framed.
    partial: Vec<f32>,
    /// Recent samples (lead-in while silent; the whole region while speaking).
    held: VecDeque<f32>,
    /// Timeline position of `held[0]`.
    held_start: u64,
    /// Per-frame info for the frames in `held`.
    frames: VecDeque<FrameInfo>,
    floor_db: Option<f32>,
    warmup: Vec<f32>,
    in_speech: bool,
    unvoiced_run: usize,
    pieces: VecDeque<Piece>,
    peak_held: usize,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad").field("in_speech", &self.in_speech).field("held", &self.held.len()).finish()
    }
}

/// Frames used to seed the noise floor (0.5 s).
const WARMUP_FRAMES: usize = 25;

impl Vad {
    pub fn new(config: VadConfig) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
        let fft_in = fft.make_input_vec();
        let fft_out = fft.make_output_vec();
        // Hann window over the frame (the rest of the FFT input is zero padding).
        let window: Vec<f32> = (0..FRAME)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / FRAME as f32).cos())
            .collect();
        let window_energy = window.iter().map(|w| (w * w) as f64).sum::<f64>();
        Self {
            config,
            fft,
            fft_in,
            fft_out,
            window,
            window_energy,
            partial: Vec::with_capacity(FRAME),
            held: VecDeque::new(),
            held_start: 0,
            frames: VecDeque::new(),
            floor_db: None,
            warmup: Vec::new(),
            in_speech: false,
            unvoiced_run: 0,
            pieces: VecDeque::new(),
            peak_held: 0,
        }
    }

    /// Samples held now (lead-in or current region, plus an unframed remainder).
    pub fn buffered(&self) -> usize {
        self.held.len() + self.partial.len() + self.warmup.len()
    }

    /// The most samples ever held at once.
    pub fn peak_buffered(&self) -> usize {
        self.peak_held
    }

    /// Pieces that are complete.
    pub fn take_pieces(&mut self) -> impl Iterator<Item = Piece> + '_ {
        self.pieces.drain(..)
    }

    /// Feeds 16 kHz samples.
    pub fn push(&mut self, samples: &[f32]) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (FRAME - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() == FRAME {
                let frame = std::mem::take(&mut self.partial);
                self.push_frame(&frame);
                self.partial = frame;
                self.partial.clear();
            }
        }
    }

    /// Ends the stream: a region still open becomes a piece.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            let mut frame = std::mem::take(&mut self.partial);
            frame.resize(FRAME, 0.0);
            self.push_frame(&frame);
        }
        if self.floor_db.is_none() && !self.warmup.is_empty() {
            self.end_warmup();
        }
        if self.in_speech {
            self.close_region();
        }
    }

    fn push_frame(&mut self, frame: &[f32]) {
        if self.floor_db.is_none() {
            self.warmup.extend_from_slice(frame);
            self.note_peak();
            if self.warmup.len() >= WARMUP_FRAMES * FRAME {
                self.end_warmup();
            }
            return;
        }
        self.classify_and_track(frame);
    }

    /// Seeds the floor with the quietest warm-up frame, then classifies the warm-up frames.
    fn end_warmup(&mut self) {
        let warmup = std::mem::take(&mut self.warmup);
        let mut floor = f32::INFINITY;
        for frame in warmup.chunks(FRAME) {
            floor = floor.min(self.analyze(frame).0);
        }
        self.floor_db = Some(floor);
        for frame in warmup.chunks(FRAME) {
            let mut f = frame.to_vec();
            f.resize(FRAME, 0.0);
            self.classify_and_track(&f);
        }
    }

    fn classify_and_track(&mut self, frame: &[f32]) {
        let (level, flatness) = self.analyze(frame);
        let floor = self.floor_db.expect("the floor is seeded before frames are classified");
        let voiced = level > floor + self.config.threshold_db
            && level > self.config.min_level_dbfs
            && flatness < self.config.max_flatness;
        // Floor: follows drops at once, rises slowly (about 3 dB per second) so steady noise is
        // absorbed while speech, which keeps pausing, is not.
        let new_floor = if level < floor { level } else if voiced { floor + 0.01 } else { floor + 0.06 };
        self.floor_db = Some(new_floor.min(level.max(floor)));

        self.held.extend(frame.iter().copied());
        self.frames.push_back(FrameInfo { level_db: level, voiced });
        if self.in_speech {
            self.unvoiced_run = if voiced { 0 } else { self.unvoiced_run + 1 };
            if self.unvoiced_run >= self.config.end_frames {
                self.close_region();
            } else if self.held.len() >= self.config.max_piece_samples {
                self.cut_long_region();
            }
        } else {
            let recent = self.frames.iter().rev().take(self.config.start_window).filter(|f| f.voiced).count();
            if recent >= self.config.start_frames {
                self.in_speech = true;
                self.unvoiced_run = 0;
                // Keep the lead-in: the start window plus padding.
                let keep = self.config.start_window + self.config.pad_frames;
                self.trim_front_to(keep);
            } else {
                self.trim_front_to(self.config.start_window + self.config.pad_frames);
            }
        }
        self.note_peak();
    }

    fn note_peak(&mut self) {
        self.peak_held = self.peak_held.max(self.buffered());
    }

    /// Drops frames from the front so at most `keep` frames remain.
    fn trim_front_to(&mut self, keep: usize) {
        while self.frames.len() > keep {
            self.frames.pop_front();
            self.held.drain(..FRAME);
            self.held_start += FRAME as u64;
        }
    }

    /// Emits the region minus its trailing silence beyond the padding.
    fn close_region(&mut self) {
        let trailing_unvoiced = self.frames.iter().rev().take_while(|f| !f.voiced).count();
        let drop = trailing_unvoiced.saturating_sub(self.config.pad_frames);
        let keep_frames = self.frames.len() - drop;
        let samples: Vec<f32> = self.held.iter().take(keep_frames * FRAME).copied().collect();
        if !samples.is_empty() {
            self.pieces.push_back(Piece { start: self.held_start, samples });
        }
        self.in_speech = false;
        self.unvoiced_run = 0;
        self.trim_front_to(self.config.pad_frames);
    }

    /// Cuts a too-long region at its quietest frame in the last quarter and keeps the rest open.
    fn cut_long_region(&mut self) {
        let n = self.frames.len();
        let from = n - n / 4;
        let cut = (from..n)
            .min_by(|&a, &b| self.frames[a].level_db.total_cmp(&self.frames[b].level_db))
            .expect("a long region has frames")
            + 1;
        let samples: Vec<f32> = self.held.drain(..cut * FRAME).collect();
        self.frames.drain(..cut);
        self.pieces.push_back(Piece { start: self.held_start, samples });
        self.held_start += (cut * FRAME) as u64;
    }

    /// The frame's level in the speech band (dB relative to full scale) and its spectral
    /// flatness there (geometric over arithmetic mean of the power spectrum). Only 200-4000 Hz
    /// counts: rumble and brown noise live below it, and speech energy within it.
    fn analyze(&mut self, frame: &[f32]) -> (f32, f32) {
        for (i, x) in self.fft_in.iter_mut().enumerate() {
            *x = if i < frame.len() { frame[i] * self.window[i] } else { 0.0 };
        }
        if self.fft.process(&mut self.fft_in, &mut self.fft_out).is_err() {
            return (-120.0, 1.0); // cannot happen with planner-made buffers; treat as silence
        }
        let bins = &self.fft_out[BAND_LO..BAND_HI];
        let (mut log_sum, mut sum) = (0.0f64, 0.0f64);
        for c in bins {
            let p = (c.norm_sqr() as f64).max(1e-20);
            log_sum += p.ln();
            sum += p;
        }
        let n = bins.len() as f64;
        let flatness = ((log_sum / n).exp() / (sum / n)) as f32;
        // Parseval with the window's energy: the share of the signal's mean square in the band.
        let power = 2.0 * sum / (FFT_LEN as f64 * self.window_energy);
        let level = if power <= 1e-12 { -120.0 } else { 10.0 * power.log10() as f32 };
        (level, flatness)
    }
}

/// Speech band in FFT bins of 16000/512 = 31.25 Hz: 200 Hz to 4 kHz.
const BAND_LO: usize = 7;
const BAND_HI: usize = 128;
