//! Shared test helpers: where the real clips and fixtures are, and a WAV writer for audio made
//! at test time (silence, noise, long recordings built from real speech).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The real speech clips (../shared/audio, see its README).
pub fn shared_audio(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/audio").join(name);
    assert!(path.is_file(), "missing {}: the shared real speech clips must be present (../shared/audio)", path.display());
    path
}

/// A committed fixture (made by tests/fixtures/make.sh).
pub fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    assert!(path.is_file(), "missing fixture {}: run scribe/tests/fixtures/make.sh", path.display());
    path
}

/// Writes 16-bit PCM WAV, interleaved channels.
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let data_len = (samples.len() * 2) as u32;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"RIFF").unwrap();
    f.write_all(&(36 + data_len).to_le_bytes()).unwrap();
    f.write_all(b"WAVEfmt ").unwrap();
    f.write_all(&16u32.to_le_bytes()).unwrap();
    f.write_all(&1u16.to_le_bytes()).unwrap();
    f.write_all(&channels.to_le_bytes()).unwrap();
    f.write_all(&rate.to_le_bytes()).unwrap();
    f.write_all(&(rate * channels as u32 * 2).to_le_bytes()).unwrap();
    f.write_all(&(channels * 2).to_le_bytes()).unwrap();
    f.write_all(&16u16.to_le_bytes()).unwrap();
    f.write_all(b"data").unwrap();
    f.write_all(&data_len.to_le_bytes()).unwrap();
    for s in samples {
        f.write_all(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).unwrap();
    }
}

/// A seeded uniform generator in [-1, 1) (xorshift64*).
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// White noise at `amplitude`.
pub fn white_noise(n: usize, amplitude: f32, seed: u64) -> Vec<f32> {
    let mut rng = Noise::new(seed);
    (0..n).map(|_| rng.next() * amplitude).collect()
}

/// Brown (1/f²) noise: leaky-integrated white noise, normalised to `amplitude` peak.
pub fn brown_noise(n: usize, amplitude: f32, seed: u64) -> Vec<f32> {
    let mut rng = Noise::new(seed);
    let mut x = 0.0f32;
    let raw: Vec<f32> = (0..n).map(|_| { x = 0.998 * x + 0.02 * rng.next(); x }).collect();
    let peak = raw.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    raw.iter().map(|v| v / peak * amplitude).collect()
}
