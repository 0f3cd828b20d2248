//! The audio front end as one streaming pipeline: decode → pick or mix channels → resample to
//! 16 kHz → voice-activity detection → windows of at most 30 s. [`SpeechWindows`] is an
//! iterator over windows; at any moment it holds at most one decoded packet, one resampler
//! chunk, the current speech region (≤ [`vad::VadConfig::max_piece_samples`]) and the window
//! being filled, never the whole recording. [`PipelineStats`] counts what passed through and
//! the peak number of samples held, so tests can prove the bound.

/// Reading audio files (symphonia, libopus).
pub mod decode;
/// Streaming resampling to 16 kHz (rubato).
pub mod resample;
/// Voice-activity detection.
pub mod vad;
/// Packing speech into ≤30 s windows with a map back to the recording's timeline.
pub mod window;

use std::collections::VecDeque;
use std::path::Path;

use decode::AudioDecoder;
use resample::StreamResampler;
use vad::{Piece, Vad, VadConfig};
use window::{Window, WindowPacker};

use crate::error::{Result, ScribeError};

/// Which samples to take from a multi-channel recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelMode {
    /// The average of all channels.
    #[default]
    Downmix,
    /// One channel (from 0), e.g. one speaker per channel in a stereo session recording.
    Channel(usize),
}

/// How the front end runs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub channel: ChannelMode,
    /// Off: every sample goes to the model, cut into plain 30 s windows (for comparisons).
    pub voice_activity_detection: bool,
    pub vad: VadConfig,
    /// Window length limit in samples (≤ 30 s).
    pub max_window_samples: usize,
    /// Recordings longer than this are refused (default 4 hours).
    pub max_duration_s: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            channel: ChannelMode::Downmix,
            voice_activity_detection: true,
            vad: VadConfig::default(),
            max_window_samples: WindowPacker::MAX_WINDOW_SAMPLES,
            max_duration_s: 4 * 60 * 60,
        }
    }
}

/// What went through the pipeline, and the most it held at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Frames decoded at the file's own rate.
    pub decoded_frames: u64,
    /// Samples after resampling to 16 kHz.
    pub samples_16k: u64,
    /// Samples the VAD judged speech (with padding).
    pub speech_samples: u64,
    pub windows: u64,
    /// Peak samples held across all stages (decoded block + resampler + VAD + window).
    pub peak_buffered_samples: usize,
}

/// An iterator over speech windows of one channel (or the downmix) of a file.
pub struct SpeechWindows {
    decoder: AudioDecoder,
    channel: ChannelMode,
    resampler: StreamResampler,
    vad: Option<Vad>,
    plain: Vec<f32>,
    plain_start: u64,
    packer: WindowPacker,
    ready: VecDeque<Window>,
    mono: Vec<f32>,
    resampled: Vec<f32>,
    stats: PipelineStats,
    max_samples_16k: u64,
    finished: bool,
}

impl std::fmt::Debug for SpeechWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechWindows").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl SpeechWindows {
    /// Opens `path` for windowing.
    pub fn open(path: &Path, config: &PipelineConfig) -> Result<Self> {
        let decoder = AudioDecoder::open(path)?;
        if let ChannelMode::Channel(requested) = config.channel
            && requested >= decoder.channels()
        {
            return Err(ScribeError::NoSuchChannel { requested, available: decoder.channels() });
        }
        let resampler = StreamResampler::new(decoder.sample_rate())?;
        let max_window = config.max_window_samples;
        if max_window == 0 || max_window > WindowPacker::MAX_WINDOW_SAMPLES {
            return Err(ScribeError::InvalidConfig(format!(
                "the window limit must be between 1 and {} samples (30 s)",
                WindowPacker::MAX_WINDOW_SAMPLES
            )));
        }
        let mut vad_config = config.vad.clone();
        vad_config.max_piece_samples = vad_config.max_piece_samples.min(max_window);
        Ok(Self {
            decoder,
            channel: config.channel,
            resampler,
            vad: config.voice_activity_detection.then(|| Vad::new(vad_config)),
            plain: Vec::new(),
            plain_start: 0,
            packer: WindowPacker::new(max_window),
            ready: VecDeque::new(),
            mono: Vec::new(),
            resampled: Vec::new(),
            stats: PipelineStats::default(),
            max_samples_16k: config.max_duration_s * resample::TARGET_RATE as u64,
            finished: false,
        })
    }

    /// The file's channel count.
    pub fn channels(&self) -> usize {
        self.decoder.channels()
    }

    /// The length the file declares, in ms, when it declares one.
    pub fn declared_duration_ms(&self) -> Option<u64> {
        self.decoder.declared_duration_ms()
    }

    /// Counters so far.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// Audio read so far on the 16 kHz timeline, in ms.
    pub fn position_ms(&self) -> u64 {
        self.stats.samples_16k * 1000 / resample::TARGET_RATE as u64
    }

    /// Decodes one block and runs it through; false at the end of the stream.
    fn step(&mut self) -> Result<bool> {
        let block_len;
        match self.decoder.next_block()? {
            None => {
                self.resampled.clear();
                self.resampler.finish(&mut self.resampled)?;
                self.feed()?;
                if let Some(vad) = &mut self.vad {
                    vad.finish();
                }
                self.flush_plain();
                self.drain_pieces();
                self.ready.extend(self.packer.finish());
                return Ok(false);
            }
            Some(planes) => {
                block_len = planes[0].len() * planes.len();
                self.stats.decoded_frames += planes[0].len() as u64;
                self.mono.clear();
                match self.channel {
                    ChannelMode::Channel(c) => self.mono.extend_from_slice(&planes[c]),
                    ChannelMode::Downmix => {
                        let scale = 1.0 / planes.len() as f32;
                        self.mono.extend((0..planes[0].len()).map(|i| planes.iter().map(|p| p[i]).sum::<f32>() * scale));
                    }
                }
            }
        }
        self.resampled.clear();
        self.resampler.push(&self.mono, &mut self.resampled)?;
        self.feed()?;
        self.drain_pieces();
        let held = block_len
            + self.mono.len()
            + self.resampled.len()
            + self.resampler.buffered()
            + self.vad.as_ref().map_or(0, Vad::buffered)
            + self.plain.len()
            + self.packer.buffered()
            + self.ready.iter().map(|w| w.samples.len()).sum::<usize>();
        self.stats.peak_buffered_samples = self.stats.peak_buffered_samples.max(held);
        Ok(true)
    }

    /// Passes resampled samples to the VAD (or the plain windower).
    fn feed(&mut self) -> Result<()> {
        self.stats.samples_16k += self.resampled.len() as u64;
        if self.stats.samples_16k > self.max_samples_16k {
            return Err(ScribeError::TooLong {
                seconds: self.stats.samples_16k / resample::TARGET_RATE as u64,
                limit: self.max_samples_16k / resample::TARGET_RATE as u64,
            });
        }
        match &mut self.vad {
            Some(vad) => vad.push(&self.resampled),
            None => {
                let resampled = std::mem::take(&mut self.resampled);
                let mut rest: &[f32] = &resampled;
                while !rest.is_empty() {
                    let take = (WindowPacker::MAX_WINDOW_SAMPLES - self.plain.len()).min(rest.len());
                    self.plain.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.plain.len() == WindowPacker::MAX_WINDOW_SAMPLES {
                        self.flush_plain();
                    }
                }
                self.resampled = resampled;
            }
        }
        Ok(())
    }

    fn flush_plain(&mut self) {
        if self.plain.is_empty() {
            return;
        }
        let samples = std::mem::take(&mut self.plain);
        let start = self.plain_start;
        self.plain_start += samples.len() as u64;
        let windows = self.packer.push(Piece { start, samples });
        self.stats.speech_samples += windows.iter().map(|w| w.samples.len() as u64).sum::<u64>();
        self.ready.extend(windows);
        self.ready.extend(self.packer.finish());
    }

    fn drain_pieces(&mut self) {
        let Some(vad) = &mut self.vad else { return };
        let pieces: Vec<Piece> = vad.take_pieces().collect();
        for piece in pieces {
            self.stats.speech_samples += piece.samples.len() as u64;
            let windows = self.packer.push(piece);
            self.ready.extend(windows);
        }
    }
}

impl Iterator for SpeechWindows {
    type Item = Result<Window>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(window) = self.ready.pop_front() {
                self.stats.windows += 1;
                return Some(Ok(window));
            }
            if self.finished {
                return None;
            }
            match self.step() {
                Ok(true) => {}
                Ok(false) => self.finished = true,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Decodes a whole (short) file to 16 kHz mono samples: for clips and tests, not for sessions.
pub fn read_16k_mono(path: &Path, channel: ChannelMode, max_seconds: u64) -> Result<Vec<f32>> {
    let config = PipelineConfig { channel, voice_activity_detection: false, max_duration_s: max_seconds, ..Default::default() };
    let mut out = Vec::new();
    for window in SpeechWindows::open(path, &config)? {
        out.extend_from_slice(&window?.samples);
    }
    Ok(out)
}
