//! Transcripts as timed speaker turns, written and read as WebVTT with voice tags
//! (W3C WebVTT: "WEBVTT" header, cues of `HH:MM:SS.mmm --> HH:MM:SS.mmm` then payload lines,
//! voice spans `<v Speaker>text`), the format whisper.cpp and captioning tools share.
//! Plain `Speaker: text` lines are read too. A cue's id is its 1-based position in the file.

use crate::error::{Result, ScribeError};

/// One speaker turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    /// The voice (`Clinician`, `Client`, `Speaker 1`...), when known.
    pub speaker: Option<String>,
    pub text: String,
}

/// A whole transcript, cues in time order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transcript {
    pub cues: Vec<Cue>,
}

impl Transcript {
    /// The cue with 1-based number `id`.
    pub fn cue(&self, id: usize) -> Option<&Cue> {
        id.checked_sub(1).and_then(|i| self.cues.get(i))
    }

    /// The end of the last cue, in ms.
    pub fn duration_ms(&self) -> u64 {
        self.cues.iter().map(|c| c.end_ms).max().unwrap_or(0)
    }

    /// Writes WebVTT. Text is escaped (`&`, `<`, `>`) so a cue's words cannot open a tag.
    pub fn to_webvtt(&self) -> String {
        let mut out = String::from("WEBVTT\n");
        for cue in &self.cues {
            out.push('\n');
            out.push_str(&format!("{} --> {}\n", format_ts(cue.start_ms), format_ts(cue.end_ms)));
            if let Some(speaker) = &cue.speaker {
                out.push_str(&format!("<v {}>", escape(speaker)));
            }
            // A blank line would end the cue: keep the payload on one line.
            out.push_str(&escape(&cue.text.replace(['\n', '\r'], " ")));
            out.push('\n');
        }
        out
    }

    /// Reads WebVTT (with or without voice tags), or plain `Speaker: text` lines when the input
    /// does not start with `WEBVTT` (those cues get no times: 0 --> 0).
    pub fn parse(input: &str) -> Result<Self> {
        let input = input.strip_prefix('\u{feff}').unwrap_or(input);
        if input.starts_with("WEBVTT") {
            parse_webvtt(input)
        } else {
            Ok(parse_plain(input))
        }
    }
}

fn parse_plain(input: &str) -> Transcript {
    let cues = input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once(": ") {
            Some((who, text)) if !who.is_empty() && who.len() <= 40 && !who.contains(['.', '?', '!']) => {
                Cue { start_ms: 0, end_ms: 0, speaker: Some(who.to_string()), text: text.trim().to_string() }
            }
            _ => Cue { start_ms: 0, end_ms: 0, speaker: None, text: line.to_string() },
        })
        .collect();
    Transcript { cues }
}

fn parse_webvtt(input: &str) -> Result<Transcript> {
    let lines: Vec<&str> = input.lines().collect();
    let bad = |line: usize, reason: &str| ScribeError::BadTranscript { line: line + 1, reason: reason.into() };
    let header = lines.first().copied().unwrap_or_default();
    if header != "WEBVTT" && !header.starts_with("WEBVTT ") && !header.starts_with("WEBVTT\t") {
        return Err(bad(0, "the first line must be WEBVTT"));
    }
    let mut cues = Vec::new();
    let mut i = 1;
    // Skip the header block (anything up to the first blank line).
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        // A block: optional identifier, timing line, payload. NOTE/STYLE/REGION blocks skipped.
        let first = lines[i];
        if first.starts_with("NOTE") || first == "STYLE" || first == "REGION" {
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        let timing_at = if first.contains("-->") { i } else { i + 1 };
        let timing = lines.get(timing_at).ok_or_else(|| bad(i, "a cue identifier with no timing line"))?;
        let (start, rest) = timing.split_once("-->").ok_or_else(|| bad(timing_at, "expected `start --> end`"))?;
        let end = rest.split_whitespace().next().ok_or_else(|| bad(timing_at, "the cue has no end time"))?;
        let start_ms = parse_ts(start.trim()).ok_or_else(|| bad(timing_at, "the start time is not HH:MM:SS.mmm"))?;
        let end_ms = parse_ts(end).ok_or_else(|| bad(timing_at, "the end time is not HH:MM:SS.mmm"))?;
        if end_ms < start_ms {
            return Err(bad(timing_at, "the cue ends before it starts"));
        }
        i = timing_at + 1;
        let mut payload = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            payload.push(lines[i]);
            i += 1;
        }
        let (speaker, text) = parse_payload(&payload.join(" "));
        cues.push(Cue { start_ms, end_ms, speaker, text });
    }
    Ok(Transcript { cues })
}

/// Takes the first voice tag's annotation as the speaker and strips all tags from the text.
fn parse_payload(payload: &str) -> (Option<String>, String) {
    let mut speaker = None;
    let mut text = String::new();
    let mut rest = payload;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            text.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        // `<v Name>` or `<v.class Name>` (WebVTT §4.2.2 cue voice span).
        let annotation = tag.strip_prefix("v ").or_else(|| tag.strip_prefix("v.").and_then(|t| t.split_once(' ').map(|x| x.1)));
        if speaker.is_none()
            && let Some(annotation) = annotation
        {
            speaker = Some(unescape(annotation.trim()));
        }
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    (speaker, unescape(text.trim()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&")
}

/// `HH:MM:SS.mmm` (hours may exceed two digits, WebVTT §4.1).
pub fn format_ts(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Parses `HH:MM:SS.mmm` or `MM:SS.mmm`.
pub fn parse_ts(s: &str) -> Option<u64> {
    let (clock, millis) = s.split_once('.')?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (h.parse::<u64>().ok()?, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return None,
    };
    if m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (m, sec): (u64, u64) = (m.parse().ok()?, sec.parse().ok()?);
    if m > 59 || sec > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + millis.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_survives_a_webvtt_round_trip_with_voices_and_escapes() {
        let t = Transcript {
            cues: vec![
                Cue { start_ms: 3_400, end_ms: 17_186, speaker: Some("Clinician".into()), text: "Hi <there> & welcome".into() },
                Cue { start_ms: 3_600_000, end_ms: 3_601_001, speaker: None, text: "no voice".into() },
            ],
        };
        let vtt = t.to_webvtt();
        assert!(vtt.contains("00:00:03.400 --> 00:00:17.186\n<v Clinician>Hi &lt;there&gt; &amp; welcome\n"));
        assert_eq!(Transcript::parse(&vtt).expect("our own output parses"), t);
    }

    #[test]
    fn cue_numbers_are_one_based_positions() {
        let t = Transcript::parse("WEBVTT\n\n00:01.000 --> 00:02.000\n<v A>one\n\nx\n00:03.000 --> 00:04.000\n<v B>two</v>\n").unwrap();
        assert_eq!(t.cue(1).unwrap().text, "one");
        assert_eq!(t.cue(2).unwrap().speaker.as_deref(), Some("B"));
        assert_eq!(t.cue(2).unwrap().text, "two");
        assert!(t.cue(0).is_none() && t.cue(3).is_none());
    }

    #[test]
    fn a_malformed_timing_line_is_reported_with_its_line_number() {
        let err = Transcript::parse("WEBVTT\n\n00:00:01.000 --> soon\nhello\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn plain_speaker_lines_are_accepted() {
        let t = Transcript::parse("Clinician: How are you?\nClient: Fine.\n").unwrap();
        assert_eq!(t.cues.len(), 2);
        assert_eq!(t.cues[1].speaker.as_deref(), Some("Client"));
        assert_eq!(t.cues[1].text, "Fine.");
    }

    #[test]
    fn timestamps_format_and_parse_symmetrically() {
        for ms in [0, 999, 61_001, 3_599_999, 36_000_000] {
            assert_eq!(parse_ts(&format_ts(ms)), Some(ms));
        }
        assert_eq!(parse_ts("1:00.000"), None);
        assert_eq!(parse_ts("00:60.000"), None);
    }
}
