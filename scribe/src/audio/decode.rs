//! Decoding audio files into blocks of planar `f32` samples, one block per coded packet, so a
//! long recording is never held in memory whole.
//!
//! symphonia 0.6 reads the containers (WAV, MP3, FLAC, Ogg, MP4/M4A) and decodes PCM, MP3,
//! FLAC, Vorbis and AAC. It has no Opus decoder, so Opus packets from an Ogg container go to
//! libopus (the `opus` crate; libopus is built from source by `opusic-sys`). Ogg Opus framing
//! follows RFC 7845: the `OpusHead` packet gives the channel count and the pre-skip, the number
//! of 48 kHz samples to drop at the start.
//!
//! Errors never include the file's path or name (they can name a client); the caller knows
//! which file it passed.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder as SymphoniaDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{Result, ScribeError};

/// What the decoder reads, for error messages that say what to convert to.
pub const SUPPORTED_FORMATS: &str = "WAV, MP3, FLAC, Ogg (Vorbis or Opus), WebM/Matroska (Opus, Vorbis) and M4A/MP4 (AAC)";

/// The most channels we accept; more is not a session recording.
pub const MAX_CHANNELS: usize = 8;

/// Sample rates we accept, in Hz (telephone 8 kHz up to studio 192 kHz).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// Opus always decodes at 48 kHz (RFC 7845 §5.1: output rate is the decoder's choice).
const OPUS_RATE: u32 = 48_000;
/// The longest Opus frame is 120 ms: 5,760 samples per channel at 48 kHz (RFC 6716 §2).
const OPUS_MAX_FRAME: usize = 5_760;

enum Codec {
    Symphonia(Box<dyn SymphoniaDecoder>),
    Opus { decoder: opus::Decoder, scratch: Vec<f32>, skip_left: usize },
}

/// A file being decoded, one packet at a time.
pub struct AudioDecoder {
    format: Box<dyn FormatReader>,
    codec: Codec,
    track_id: u32,
    rate: u32,
    channels: usize,
    planes: Vec<Vec<f32>>,
    decoded_frames: u64,
    total_frames: Option<u64>,
}

impl std::fmt::Debug for AudioDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioDecoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("decoded_frames", &self.decoded_frames)
            .finish_non_exhaustive()
    }
}

fn corrupt(what: impl std::fmt::Display) -> ScribeError {
    ScribeError::CorruptAudio(what.to_string())
}

impl AudioDecoder {
    /// Opens `path` and finds its first audio track.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| ScribeError::io("opening the audio file", e))?;
        let len = file.metadata().map_err(|e| ScribeError::io("reading the audio file", e))?.len();
        if len == 0 {
            return Err(ScribeError::EmptyAudio);
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| match e {
                SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    corrupt("the file ends before its header does (truncated?)")
                }
                SymphoniaError::IoError(e) => ScribeError::io("reading the audio file", e),
                _ => ScribeError::UnsupportedFormat,
            })?;
        Self::from_format(format)
    }

    fn from_format(format: Box<dyn FormatReader>) -> Result<Self> {
        let track = format.default_track(TrackType::Audio).ok_or(ScribeError::NoAudioTrack)?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or(ScribeError::NoAudioTrack)?
            .clone();
        let track_id = track.id;
        let total_frames = track.num_frames;
        let (codec, rate, channels) = if params.codec == CODEC_ID_OPUS {
            let head = params.extra_data.as_deref().ok_or_else(|| corrupt("Ogg Opus without an OpusHead"))?;
            let (channels, pre_skip) = parse_opus_head(head)?;
            let layout = match channels {
                1 => opus::Channels::Mono,
                2 => opus::Channels::Stereo,
                n => return Err(ScribeError::UnsupportedChannels(n)),
            };
            let decoder = opus::Decoder::new(OPUS_RATE, layout).map_err(|e| corrupt(format!("Opus: {e}")))?;
            let scratch = vec![0.0; OPUS_MAX_FRAME * channels];
            (Codec::Opus { decoder, scratch, skip_left: pre_skip }, OPUS_RATE, channels)
        } else {
            let decoder = symphonia::default::get_codecs()
                .make_audio_decoder(&params, &AudioDecoderOptions::default())
                .map_err(|_| ScribeError::UnsupportedCodec)?;
            let rate = params.sample_rate.ok_or_else(|| corrupt("the audio track has no sample rate"))?;
            let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(1);
            (Codec::Symphonia(decoder), rate, channels)
        };
        if !SAMPLE_RATES.contains(&rate) {
            return Err(ScribeError::UnsupportedSampleRate(rate));
        }
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(ScribeError::UnsupportedChannels(channels));
        }
        Ok(Self { format, codec, track_id, rate, channels, planes: vec![Vec::new(); channels], decoded_frames: 0, total_frames })
    }

    /// The file's sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// The number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The length the container declares, in ms, if it declares one (for progress only).
    pub fn declared_duration_ms(&self) -> Option<u64> {
        self.total_frames.map(|f| f * 1000 / self.rate as u64)
    }

    /// Frames (samples per channel) decoded so far.
    pub fn decoded_frames(&self) -> u64 {
        self.decoded_frames
    }

    /// The next block of samples, one `Vec` per channel, or `None` at the end of the stream.
    /// A block holds one packet's worth (at most a few thousand frames).
    pub fn next_block(&mut self) -> Result<Option<&[Vec<f32>]>> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Ok(None),
                // A stream cut short ends at the last whole packet: keep what decoded.
                Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    tracing::warn!(frames = self.decoded_frames, "audio stream ends mid-packet; stopping there");
                    return Ok(None);
                }
                Err(SymphoniaError::IoError(e)) => return Err(ScribeError::io("reading the audio file", e)),
                Err(e) => return Err(corrupt(e)),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            for plane in &mut self.planes {
                plane.clear();
            }
            match &mut self.codec {
                Codec::Symphonia(decoder) => match decoder.decode(&packet) {
                    Ok(buf) => {
                        if buf.num_planes() != self.channels {
                            return Err(corrupt("the channel count changed mid-stream"));
                        }
                        buf.copy_to_vecs_planar::<f32>(&mut self.planes);
                    }
                    // One damaged packet is skipped, as players do; the rest still decodes.
                    Err(SymphoniaError::DecodeError(reason)) => {
                        tracing::warn!(reason, "skipping an undecodable audio packet");
                        continue;
                    }
                    Err(e) => return Err(corrupt(e)),
                },
                Codec::Opus { decoder, scratch, skip_left } => {
                    let frames = match decoder.decode_float(&packet.data, scratch, false) {
                        Ok(frames) => frames,
                        Err(e) => {
                            tracing::warn!(error = %e, "skipping an undecodable Opus packet");
                            continue;
                        }
                    };
                    let skip = (*skip_left).min(frames);
                    *skip_left -= skip;
                    for frame in skip..frames {
                        for (ch, plane) in self.planes.iter_mut().enumerate() {
                            plane.push(scratch[frame * self.channels + ch]);
                        }
                    }
                }
            }
            let frames = self.planes[0].len();
            if frames == 0 {
                continue;
            }
            self.decoded_frames += frames as u64;
            return Ok(Some(&self.planes));
        }
    }
}

/// Reads channel count and pre-skip from an `OpusHead` packet (RFC 7845 §5.1): magic
/// "OpusHead", version, channel count (byte 9), pre-skip (u16 LE, bytes 10-11), ..., mapping
/// family (byte 18). Only family 0 (mono or stereo, one stream) is supported.
fn parse_opus_head(head: &[u8]) -> Result<(usize, usize)> {
    if head.len() < 19 || &head[..8] != b"OpusHead" {
        return Err(corrupt("the OpusHead packet is malformed"));
    }
    let channels = head[9] as usize;
    let pre_skip = u16::from_le_bytes([head[10], head[11]]) as usize;
    if head[18] != 0 {
        return Err(ScribeError::UnsupportedChannels(channels));
    }
    Ok((channels, pre_skip))
}
