//! Streaming resampling of one channel to 16 kHz with rubato 5's synchronous FFT resampler.
//!
//! Input arrives in blocks of any size; the resampler consumes fixed chunks of
//! [`CHUNK_FRAMES`], so at most one chunk waits here between calls. The resampler's startup
//! delay (`output_delay`) is trimmed from the front, and [`StreamResampler::finish`] flushes the
//! tail so the output has exactly `round(n_in * 16000 / rate_in)` samples.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::error::{Result, ScribeError};

/// Whisper's input rate.
pub const TARGET_RATE: u32 = 16_000;
/// Input frames per resampler call.
pub const CHUNK_FRAMES: usize = 1024;

/// Resamples one channel to 16 kHz, block by block.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    rate_in: u32,
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler").field("rate_in", &self.rate_in).finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// A resampler from `rate_in` Hz to 16 kHz (a pass-through when `rate_in` is 16 kHz).
    pub fn new(rate_in: u32) -> Result<Self> {
        let inner = if rate_in == TARGET_RATE {
            None
        } else {
            let fft = Fft::<f32>::new(rate_in as usize, TARGET_RATE as usize, CHUNK_FRAMES, 1, FixedSync::Input)
                .map_err(|e| ScribeError::Resample(e.to_string()))?;
            Some(fft)
        };
        let (out_len, delay) = match &inner {
            Some(r) => (r.output_frames_max(), r.output_delay()),
            None => (0, 0),
        };
        Ok(Self {
            inner,
            rate_in,
            pending: Vec::with_capacity(CHUNK_FRAMES),
            out_buf: vec![0.0; out_len],
            delay_left: delay,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Samples held back waiting for a full chunk (bounded by [`CHUNK_FRAMES`]).
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Resamples `input`, appending the 16 kHz samples that are ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.frames_in += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.frames_out += input.len() as u64;
            return Ok(());
        }
        let mut rest = input;
        while !rest.is_empty() {
            let take = (CHUNK_FRAMES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == CHUNK_FRAMES {
                self.run_chunk(None, out)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Flushes what is left (zero-padded) and trims the output to the exact expected length.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        if self.inner.is_none() {
            return Ok(());
        }
        let expected = (self.frames_in * TARGET_RATE as u64 + self.rate_in as u64 / 2) / self.rate_in as u64;
        let partial = self.pending.len();
        self.pending.resize(CHUNK_FRAMES, 0.0);
        self.run_chunk(Some(partial), out)?;
        self.pending.clear();
        // The delay line still holds real samples: push silence until they are all out.
        let mut guard = 0;
        while self.frames_out < expected && guard < 64 {
            self.pending.resize(CHUNK_FRAMES, 0.0);
            self.run_chunk(Some(0), out)?;
            self.pending.clear();
            guard += 1;
        }
        if self.frames_out > expected {
            let excess = (self.frames_out - expected) as usize;
            out.truncate(out.len().saturating_sub(excess));
            self.frames_out = expected;
        }
        Ok(())
    }

    fn run_chunk(&mut self, partial_len: Option<usize>, out: &mut Vec<f32>) -> Result<()> {
        let resampler = self.inner.as_mut().expect("run_chunk is only called when resampling");
        let input = InterleavedSlice::new(&self.pending[..], 1, CHUNK_FRAMES)
            .map_err(|e| ScribeError::Resample(e.to_string()))?;
        let out_len = self.out_buf.len();
        let mut output = InterleavedSlice::new_mut(&mut self.out_buf[..], 1, out_len)
            .map_err(|e| ScribeError::Resample(e.to_string()))?;
        let indexing = Indexing { input_offset: 0, output_offset: 0, partial_len, active_channels_mask: None };
        let (_, produced) = resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| ScribeError::Resample(e.to_string()))?;
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        out.extend_from_slice(&self.out_buf[skip..produced]);
        self.frames_out += (produced - skip) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_length_matches_the_rate_ratio_for_any_block_sizes() {
        for (rate, n) in [(44_100u32, 44_100usize * 3 + 17), (22_050, 5_000), (8_000, 8_001), (48_000, 100)] {
            let mut r = StreamResampler::new(rate).unwrap();
            let input: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
            let mut out = Vec::new();
            for block in input.chunks(777) {
                r.push(block, &mut out).unwrap();
                assert!(r.buffered() < CHUNK_FRAMES, "at most one chunk waits");
            }
            r.finish(&mut out).unwrap();
            let expected = (n as u64 * 16_000 + rate as u64 / 2) / rate as u64;
            assert_eq!(out.len() as u64, expected, "rate {rate}");
        }
    }

    #[test]
    fn a_tone_keeps_its_frequency_after_resampling() {
        // 1 kHz at 44.1 kHz -> 16 kHz: count zero crossings over one second of output.
        let input: Vec<f32> = (0..44_100 * 2).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 44_100.0).sin()).collect();
        let mut r = StreamResampler::new(44_100).unwrap();
        let mut out = Vec::new();
        r.push(&input, &mut out).unwrap();
        r.finish(&mut out).unwrap();
        let second = &out[8_000..24_000];
        let crossings = second.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((1_990..=2_010).contains(&crossings), "{crossings} crossings");
    }
}
