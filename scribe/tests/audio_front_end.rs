//! The audio front end on real speech, real codecs and audio made at test time: decoding every
//! supported format, resampling, voice-activity detection, windowing, bounded memory, and clear
//! errors for bad files.

mod common;

use common::{brown_noise, fixture, shared_audio, white_noise, write_wav};
use scribe::audio::{ChannelMode, PipelineConfig, SpeechWindows, read_16k_mono, window::Window};

fn windows_of(path: &std::path::Path, config: &PipelineConfig) -> (Vec<Window>, scribe::audio::PipelineStats) {
    let mut it = SpeechWindows::open(path, config).expect("opening");
    let windows: Vec<Window> = it.by_ref().map(|w| w.expect("a window")).collect();
    (windows, it.stats().clone())
}

fn rms_db(x: &[f32]) -> f32 {
    10.0 * (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).log10()
}

#[test]
fn every_supported_format_decodes_to_the_clip_length_at_16_khz() {
    let reference = read_16k_mono(&shared_audio("jfk.wav"), ChannelMode::Downmix, 60).expect("wav");
    assert_eq!(reference.len(), 176_000, "jfk.wav is 11.0 s at 16 kHz");
    let cases = [
        (shared_audio("jfk.mp3"), 11_000),
        (fixture("jfk.ogg"), 11_000),
        (fixture("jfk.opus"), 11_000),
        (fixture("jfk.m4a"), 11_000),
        (fixture("jfk.webm"), 11_000),
        (fixture("jfk-4s.flac"), 4_000),
    ];
    for (path, expected_ms) in cases {
        let samples = read_16k_mono(&path, ChannelMode::Downmix, 60).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ms = samples.len() as i64 * 1000 / 16_000;
        // Lossy codecs add encoder priming/padding of a few tens of ms.
        assert!((ms - expected_ms).abs() <= 80, "{}: {ms} ms, expected {expected_ms}", path.display());
        let n = samples.len().min(reference.len());
        let diff = (rms_db(&samples[..n]) - rms_db(&reference[..n])).abs();
        assert!(diff < 2.0, "{}: level differs from the WAV by {diff} dB", path.display());
    }
}

#[test]
fn a_22_khz_recording_is_resampled_to_exactly_the_16_khz_length() {
    let path = shared_audio("note-22khz.wav");
    let samples = read_16k_mono(&path, ChannelMode::Downmix, 60).expect("decoding");
    let bytes = std::fs::metadata(&path).unwrap().len();
    // 16-bit mono: frames = (bytes - 44-byte header) / 2, give or take extra chunks.
    let frames_in = (bytes - 44) / 2;
    let expected = (frames_in * 16_000 + 11_025) / 22_050;
    assert!((samples.len() as i64 - expected as i64).abs() <= 16, "{} vs {expected}", samples.len());
    assert!(rms_db(&samples) > -40.0, "resampled speech keeps its level");
}

#[test]
fn real_speech_is_detected_and_windows_map_back_to_the_clip() {
    let (windows, stats) = windows_of(&shared_audio("jfk.wav"), &PipelineConfig::default());
    assert!(!windows.is_empty(), "JFK's speech must be found");
    assert!(stats.speech_samples > 176_000 / 2, "most of the clip is speech: {stats:?}");
    for w in &windows {
        assert!(w.samples.len() <= 480_000);
        assert!(w.end_ms() <= 11_000 && w.start_ms() < w.end_ms());
        assert_eq!(w.to_original_ms(0), w.start_ms());
    }
}

#[test]
fn digital_silence_and_steady_noise_give_no_speech() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("silence.wav", vec![0.0; 16_000 * 60]),
        ("white.wav", white_noise(16_000 * 30, 0.1, 1)),
        ("brown.wav", brown_noise(16_000 * 30, 0.3, 2)),
        ("quiet-white.wav", white_noise(16_000 * 30, 0.003, 3)),
    ];
    for (name, samples) in cases {
        let path = dir.path().join(name);
        write_wav(&path, 16_000, 1, &samples);
        let (windows, stats) = windows_of(&path, &PipelineConfig::default());
        assert!(windows.is_empty(), "{name}: {} windows, {stats:?}", windows.len());
        assert_eq!(stats.samples_16k, samples.len() as u64);
    }
}

#[test]
fn steady_noise_made_by_sox_gives_no_speech() {
    let dir = tempfile::tempdir().unwrap();
    for (name, kind, gain) in [("white.wav", "whitenoise", "-20"), ("brown.wav", "brownnoise", "-6"), ("pink.wav", "pinknoise", "-12")] {
        let path = dir.path().join(name);
        let status = std::process::Command::new("sox")
            .args(["-n", "-r", "16000", "-c", "1", "-b", "16"])
            .arg(&path)
            .args(["synth", "30", kind, "gain", gain])
            .status()
            .expect("sox is needed for this test: apt-get install sox (see scripts/debian-packages.txt)");
        assert!(status.success(), "sox failed to make {kind}");
        let (windows, stats) = windows_of(&path, &PipelineConfig::default());
        assert!(windows.is_empty(), "{kind}: {} windows, {stats:?}", windows.len());
    }
}

/// [3 s silence][JFK 11 s][10 s silence][Churchill 10.5 s][5 s silence], at 16 kHz.
fn speech_with_long_pauses() -> (Vec<f32>, [(u64, u64); 2]) {
    let jfk = read_16k_mono(&shared_audio("jfk.wav"), ChannelMode::Downmix, 60).unwrap();
    let churchill = read_16k_mono(&shared_audio("churchill.wav"), ChannelMode::Downmix, 60).unwrap();
    let mut all = vec![0.0; 3 * 16_000];
    let jfk_at = all.len() as u64;
    all.extend_from_slice(&jfk);
    all.extend(std::iter::repeat_n(0.0, 10 * 16_000));
    let churchill_at = all.len() as u64;
    all.extend_from_slice(&churchill);
    all.extend(std::iter::repeat_n(0.0, 5 * 16_000));
    let ms = |s: u64| s * 1000 / 16_000;
    (all, [(ms(jfk_at), ms(jfk_at) + 11_000), (ms(churchill_at), ms(churchill_at) + churchill.len() as u64 * 1000 / 16_000)])
}

#[test]
fn long_pauses_are_skipped_and_times_map_back_to_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pauses.wav");
    let (samples, speech) = speech_with_long_pauses();
    write_wav(&path, 16_000, 1, &samples);
    let (windows, stats) = windows_of(&path, &PipelineConfig::default());
    assert!(stats.speech_samples < samples.len() as u64 * 3 / 4, "the pauses are not passed on: {stats:?}");
    let spans: Vec<_> = windows.iter().flat_map(|w| w.spans.iter().copied()).collect();
    assert!(!spans.is_empty());
    let margin = 600; // padding around speech, ms
    for span in &spans {
        let (s, e) = (span.original_start * 1000 / 16_000, (span.original_start + span.len as u64) * 1000 / 16_000);
        let inside = speech.iter().any(|&(a, b)| s + margin >= a && e <= b + margin);
        assert!(inside, "span {s}..{e} ms lies outside the speech {speech:?}");
    }
    for (a, b) in speech {
        assert!(spans.iter().any(|sp| {
            let s = sp.original_start * 1000 / 16_000;
            s + margin >= a && s < b
        }), "the speech at {a}..{b} ms was found");
    }
    // A window's own timeline maps to the recording's: its first sample is its first span's.
    for w in &windows {
        let first = w.spans[0];
        assert_eq!(w.to_original_ms(first.window_offset as u64 * 1000 / 16_000), first.original_start * 1000 / 16_000);
    }
}

#[test]
fn a_long_recording_streams_with_bounded_buffers() {
    // 12 minutes at 22.05 kHz (so the resampler is in the path): speech with pauses, repeated.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    let (pattern, _) = speech_with_long_pauses();
    let pattern_22k: Vec<f32> = (0..pattern.len() * 22_050 / 16_000).map(|i| pattern[i * 16_000 / 22_050]).collect();
    let mut all = Vec::new();
    while all.len() < 12 * 60 * 22_050 {
        all.extend_from_slice(&pattern_22k);
    }
    write_wav(&path, 22_050, 1, &all);
    let (windows, stats) = windows_of(&path, &PipelineConfig::default());
    let expected_16k = (all.len() as u64 * 16_000 + 11_025) / 22_050;
    assert_eq!(stats.samples_16k, expected_16k);
    assert_eq!(stats.windows, windows.len() as u64);
    assert!(windows.len() >= 10, "{} windows", windows.len());
    assert!(windows.iter().all(|w| w.samples.len() <= 480_000));
    // The whole recording is 11.5 M samples at 16 kHz; the pipeline never holds more than about
    // two windows' worth (window being filled + the open speech region + a decoded packet).
    assert!(stats.peak_buffered_samples <= 2 * 480_000 + 16_384, "peak {} samples", stats.peak_buffered_samples);
    let mut last_end = 0;
    for w in &windows {
        assert!(w.start_ms() >= last_end, "windows come in time order");
        last_end = w.end_ms();
    }
}

#[test]
fn stereo_channels_can_be_taken_apart_one_voice_each() {
    let path = fixture("two-voices-stereo.opus");
    let spans_ms = |channel| {
        let config = PipelineConfig { channel, ..Default::default() };
        let (windows, _) = windows_of(&path, &config);
        windows.iter().flat_map(|w| w.spans.clone()).map(|s| (s.original_start / 16, (s.original_start + s.len as u64) / 16)).collect::<Vec<_>>()
    };
    let left = spans_ms(ChannelMode::Channel(0));
    let right = spans_ms(ChannelMode::Channel(1));
    assert!(!left.is_empty() && !right.is_empty(), "left {left:?} right {right:?}");
    assert!(left.iter().all(|&(_, e)| e <= 5_700), "left speaks in the first 5 s: {left:?}");
    assert!(right.iter().all(|&(s, _)| s >= 5_300), "right speaks after 6 s: {right:?}");
    let mixed = spans_ms(ChannelMode::Downmix);
    assert!(mixed.first().unwrap().0 < 1_000 && mixed.last().unwrap().1 > 10_000, "{mixed:?}");

    let err = SpeechWindows::open(&path, &PipelineConfig { channel: ChannelMode::Channel(2), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("the recording has 2"), "{err}");
}

#[test]
fn empty_corrupt_truncated_and_unsupported_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let open = |p: &std::path::Path| read_16k_mono(p, ChannelMode::Downmix, 60);

    let err = open(&write("empty.wav", b"")).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    let err = open(&write("notes.txt", b"Clinician: this is a text file, not audio\n".repeat(50).as_slice())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("WAV, MP3, FLAC") && msg.contains("Opus") && msg.contains("M4A"), "{msg}");

    let wav = std::fs::read(shared_audio("jfk.wav")).unwrap();
    assert!(open(&write("header-only.wav", &wav[..30])).is_err(), "a cut-off header is an error");

    // A stream cut mid-way decodes up to the cut, without a panic.
    let mp3 = std::fs::read(shared_audio("jfk.mp3")).unwrap();
    let half = open(&write("half.mp3", &mp3[..mp3.len() / 2])).expect("the first half still decodes");
    assert!(half.len() > 16_000 * 3 && half.len() < 16_000 * 9, "{} samples", half.len());

    // M4A keeps its index (moov) at the end: without it the file cannot be read.
    let m4a = std::fs::read(fixture("jfk.m4a")).unwrap();
    let err = open(&write("cut.m4a", &m4a[..m4a.len() / 2])).unwrap_err();
    assert!(!err.to_string().is_empty());

    let mut garbage = b"OggS".to_vec();
    garbage.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert!(open(&write("garbage.ogg", &garbage)).is_err());
}

#[test]
fn errors_do_not_reveal_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Jane-Doe-session.wav");
    std::fs::write(&path, b"not audio at all, just words").unwrap();
    let err = read_16k_mono(&path, ChannelMode::Downmix, 60).unwrap_err();
    assert!(!err.to_string().contains("Jane"), "{err}");
}

#[test]
fn a_recording_over_the_length_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    write_wav(&path, 16_000, 1, &white_noise(16_000 * 5, 0.1, 9));
    let err = read_16k_mono(&path, ChannelMode::Downmix, 2).unwrap_err();
    assert!(err.to_string().contains("over the limit of 2 s"), "{err}");
}
