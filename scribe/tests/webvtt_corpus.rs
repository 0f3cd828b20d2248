//! The evaluation corpus's WebVTT transcripts read back with voices, times and 1-based cue ids.

use std::path::PathBuf;

use scribe::Transcript;

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the corpus must be at {}: {e}", path.display()))
}

#[test]
fn every_corpus_transcript_parses_with_voices_and_increasing_times() {
    for (name, cues) in [("s01-panic-cbt.vtt", 167), ("s03-sud-alcohol-opioid.vtt", 136), ("s06-couples.vtt", 162)] {
        let t = Transcript::parse(&corpus(name)).expect("corpus WebVTT parses");
        assert_eq!(t.cues.len(), cues, "{name}");
        assert!(t.cues.iter().all(|c| c.speaker.is_some() && !c.text.is_empty()), "{name}");
        assert!(t.cues.windows(2).all(|w| w[0].end_ms <= w[1].start_ms), "{name}: cues never overlap");
        // Writing and reading again changes nothing.
        assert_eq!(Transcript::parse(&t.to_webvtt()).unwrap(), t, "{name}");
    }
}

#[test]
fn cue_one_is_the_first_turn_of_the_session() {
    let t = Transcript::parse(&corpus("s01-panic-cbt.vtt")).unwrap();
    let first = t.cue(1).unwrap();
    assert_eq!((first.start_ms, first.end_ms), (3_400, 17_186));
    assert_eq!(first.speaker.as_deref(), Some("Clinician"));
    assert!(first.text.starts_with("Hi, come on in."));
    assert_eq!(t.duration_ms() / 60_000, 39, "the README gives 39 minutes");
}
