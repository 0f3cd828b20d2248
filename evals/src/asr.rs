//! `hearth-evals asr`: word error rate of a Whisper model the user supplies, through Hearth's
//! own transcription pipeline (decode, resample, VAD, windows, whisper.cpp).
//!
//! The test set is speech made with espeak-ng from known text (`evals/asr/sentences.txt`) and
//! any real clip whose reference text is listed in `evals/asr/clips.tsv` that is present in the
//! audio folder. WER is computed after the usual normalisation (case, punctuation, numbers
//! written as words), as word-level Levenshtein distance over the reference length.
//!
//! Only a published model (its SHA-256 in Hearth's manifest) gets a WER that means anything;
//! a file that is not (a random-weight test model, a private fine-tune) is reported as such
//! beside its figure. With no model at all the command says so and prints no number.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use models::manifest::{MODELS, Task, sha256_file};
use models::speech::{Language, TranscribeOptions, WhisperConfig, WhisperSpeech};
use scribe::{FileTranscribeOptions, transcribe_file};
use serde::Serialize;

/// One utterance: its audio and what was said.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub audio: PathBuf,
    pub reference: String,
}

/// The figures for one utterance.
#[derive(Debug, Clone, Serialize)]
pub struct ItemScore {
    pub name: String,
    pub reference: String,
    pub hypothesis: String,
    pub edits: Edits,
}

/// Word edits between a reference and a hypothesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Edits {
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
    pub reference_words: usize,
}

impl Edits {
    pub fn total(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// Edits over reference words (may exceed 1 with many insertions); `None` for an empty
    /// reference.
    pub fn wer(&self) -> Option<f64> {
        (self.reference_words > 0).then(|| self.total() as f64 / self.reference_words as f64)
    }

    fn add(&mut self, other: &Edits) {
        self.substitutions += other.substitutions;
        self.deletions += other.deletions;
        self.insertions += other.insertions;
        self.reference_words += other.reference_words;
    }
}

/// What the model file is.
#[derive(Debug, Clone, Serialize)]
pub struct ModelIdentity {
    pub path: PathBuf,
    pub sha256: String,
    /// The manifest name when the file is a published Whisper model.
    pub published_as: Option<String>,
}

/// The command's result.
#[derive(Debug, Clone, Serialize)]
pub struct AsrReport {
    pub model: ModelIdentity,
    pub items: Vec<ItemScore>,
    pub pooled: Edits,
    pub wer: Option<f64>,
    pub threads: usize,
}

impl AsrReport {
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let who = match &self.model.published_as {
            Some(name) => format!("published model `{name}`"),
            None => format!(
                "a file that is **not a published Whisper model** (sha256 {}…): a random-weight test model or a private one; its WER says nothing about Whisper",
                &self.model.sha256[..12]
            ),
        };
        let _ = writeln!(out, "# Speech-to-text word error rate\n\nModel: `{}`, {who}. Threads: {}.\n", self.model.path.display(), self.threads);
        let _ = writeln!(out, "| item | words | sub | del | ins | WER |\n|---|---|---|---|---|---|");
        for i in &self.items {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                i.name,
                i.edits.reference_words,
                i.edits.substitutions,
                i.edits.deletions,
                i.edits.insertions,
                fmt_wer(i.edits.wer())
            );
        }
        let p = &self.pooled;
        let _ = writeln!(out, "| **all** | {} | {} | {} | {} | **{}** |", p.reference_words, p.substitutions, p.deletions, p.insertions, fmt_wer(self.wer));
        out
    }
}

fn fmt_wer(w: Option<f64>) -> String {
    w.map_or_else(|| "n/a".into(), |w| format!("{:.1}%", 100.0 * w))
}

/// Lower-case words with punctuation removed and numbers written out ("3" → "three",
/// "10%" → "ten percent", "2:30" → "two thirty"), so formatting differences are not errors.
pub fn normalise(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'");
    let chars: Vec<char> = lowered.chars().collect();
    let mut spaced = String::with_capacity(lowered.len());
    for (i, &c) in chars.iter().enumerate() {
        let digit_at = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(char::is_ascii_digit);
        match c {
            // A thousands separator ("1,200") joins; any other comma separates.
            ',' if digit_at(i.checked_sub(1)) && digit_at(Some(i + 1)) => {}
            '%' => spaced.push_str(" percent "),
            '&' => spaced.push_str(" and "),
            c if c.is_alphanumeric() || c == '\'' => spaced.push(c),
            _ => spaced.push(' '),
        }
    }
    let mut words = Vec::new();
    for token in spaced.split_whitespace() {
        let token = token.trim_matches('\'');
        if token.is_empty() {
            continue;
        }
        // Digits and letters apart ("3rd" stays a word; "10am" becomes "ten am").
        let mut part = String::new();
        let mut parts = Vec::new();
        for c in token.chars() {
            if !part.is_empty() && part.chars().last().is_some_and(|p| p.is_ascii_digit()) != c.is_ascii_digit() {
                parts.push(std::mem::take(&mut part));
            }
            part.push(c);
        }
        parts.push(part);
        if parts.len() == 2 && parts[0].chars().all(|c| c.is_ascii_digit()) && matches!(parts[1].as_str(), "st" | "nd" | "rd" | "th") {
            words.push(token.to_string());
            continue;
        }
        for p in parts.iter().map(|p| p.trim_matches('\'')).filter(|p| !p.is_empty()) {
            match p.parse::<u64>() {
                Ok(n) if p.len() <= 9 => words.extend(number_words(n).split(' ').map(str::to_string)),
                _ => words.push(p.to_string()),
            }
        }
    }
    words
}

/// English words for `n` ("twenty one", "one hundred five").
fn number_words(n: u64) -> String {
    const ONES: [&str; 20] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
        "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    ];
    const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    fn below_thousand(n: u64, out: &mut Vec<String>) {
        let (h, rest) = (n / 100, n % 100);
        if h > 0 {
            out.push(ONES[h as usize].into());
            out.push("hundred".into());
        }
        if rest >= 20 {
            out.push(TENS[(rest / 10) as usize].into());
            if rest % 10 > 0 {
                out.push(ONES[(rest % 10) as usize].into());
            }
        } else if rest > 0 || h == 0 {
            out.push(ONES[rest as usize].into());
        }
    }
    let mut out = Vec::new();
    let scales = [(1_000_000, "million"), (1_000, "thousand")];
    let mut rest = n;
    for (size, name) in scales {
        if rest >= size {
            below_thousand(rest / size, &mut out);
            out.push(name.into());
            rest %= size;
        }
    }
    if rest > 0 || out.is_empty() {
        below_thousand(rest, &mut out);
    }
    out.join(" ")
}

/// Word edits turning `reference` into `hypothesis` (both already normalised).
pub fn edits(reference: &[String], hypothesis: &[String]) -> Edits {
    // Levenshtein over words, keeping (total, sub, del, ins) per cell and preferring fewer
    // total edits; O(n·m) time, O(m) memory.
    #[derive(Clone, Copy)]
    struct Cell(usize, usize, usize, usize);
    let m = hypothesis.len();
    let mut prev: Vec<Cell> = (0..=m).map(|j| Cell(j, 0, 0, j)).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut row = vec![Cell(i + 1, 0, i + 1, 0)];
        for (j, h) in hypothesis.iter().enumerate() {
            let diag = prev[j];
            let sub = if r == h { diag } else { Cell(diag.0 + 1, diag.1 + 1, diag.2, diag.3) };
            let up = prev[j + 1];
            let del = Cell(up.0 + 1, up.1, up.2 + 1, up.3);
            let left = row[j];
            let ins = Cell(left.0 + 1, left.1, left.2, left.3 + 1);
            let best = [sub, del, ins].into_iter().min_by_key(|c| c.0).expect("three candidates");
            row.push(best);
        }
        prev = row;
    }
    let Cell(_, substitutions, deletions, insertions) = prev[m];
    Edits { substitutions, deletions, insertions, reference_words: reference.len() }
}

/// The published Whisper model whose SHA-256 `sha256` is, if any.
pub fn published_name(sha256: &str) -> Option<&'static str> {
    MODELS
        .iter()
        .filter(|m| m.task == Task::SpeechToText)
        .find(|m| m.files.iter().any(|f| f.sha256.eq_ignore_ascii_case(sha256)))
        .map(|m| m.name)
}

/// Installed published Whisper models in `dir` (by manifest file name and hash).
pub fn installed_published(dir: &Path) -> Vec<PathBuf> {
    MODELS
        .iter()
        .filter(|m| m.task == Task::SpeechToText)
        .flat_map(|m| m.files.iter())
        .map(|f| dir.join(f.path))
        .filter(|p| p.is_file() && sha256_file(p).ok().as_deref().and_then(published_name).is_some())
        .collect()
}

/// The sentences file's lines (blank lines and `#` comments skipped).
pub fn read_sentences(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}

/// Speaks each sentence with espeak-ng into `dir` (22,050 Hz WAV, resampled by the pipeline).
pub fn synthesise(sentences: &[String], dir: &Path) -> anyhow::Result<Vec<Item>> {
    std::fs::create_dir_all(dir)?;
    let mut items = Vec::new();
    for (i, text) in sentences.iter().enumerate() {
        let audio = dir.join(format!("espeak-{:02}.wav", i + 1));
        let status = Command::new("espeak-ng")
            .args(["-v", "en-us", "-s", "150", "-w"])
            .arg(&audio)
            .arg(text)
            .status()
            .context("running espeak-ng (Debian package espeak-ng; scripts/deps.sh installs it)")?;
        if !status.success() {
            bail!("espeak-ng failed ({status}) on sentence {}", i + 1);
        }
        items.push(Item { name: format!("espeak-{:02}", i + 1), audio, reference: text.clone() });
    }
    Ok(items)
}

/// Clips listed in `list` (`file<TAB>reference text`) that exist in `audio_dir`.
pub fn listed_clips(list: &Path, audio_dir: &Path) -> anyhow::Result<Vec<Item>> {
    let text = std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((file, reference)) = line.split_once('\t') else {
            bail!("{} line {}: expected `file<TAB>reference text`", list.display(), n + 1);
        };
        let audio = audio_dir.join(file);
        if audio.is_file() {
            items.push(Item { name: file.to_string(), audio, reference: reference.trim().to_string() });
        }
    }
    Ok(items)
}

/// Transcribes every item with the model at `model` and scores it.
/// `max_tokens` caps the tokens per window and turns off the temperature fallback (fixed work
/// per window: for timing runs and random-weight models, which never stop on their own).
pub fn run(model: &Path, items: &[Item], threads: usize, max_tokens: Option<u32>) -> anyhow::Result<AsrReport> {
    let sha256 = sha256_file(model).with_context(|| format!("reading {}", model.display()))?;
    let published_as = published_name(&sha256).map(str::to_string);
    let mut engine = WhisperSpeech::load(&WhisperConfig::new(model, threads)).with_context(|| format!("loading {}", model.display()))?;
    let options = FileTranscribeOptions {
        speech: TranscribeOptions {
            language: Language::Code("en".into()),
            max_tokens_per_segment: max_tokens,
            temperature_fallback: max_tokens.is_none(),
            ..TranscribeOptions::default()
        },
        ..FileTranscribeOptions::default()
    };
    let mut scores = Vec::new();
    let mut pooled = Edits::default();
    for item in items {
        let transcript = transcribe_file(&item.audio, &mut engine, &options, &mut |_| {})
            .with_context(|| format!("transcribing {}", item.audio.display()))?;
        let hypothesis = transcript.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
        let e = edits(&normalise(&item.reference), &normalise(&hypothesis));
        pooled.add(&e);
        scores.push(ItemScore { name: item.name.clone(), reference: item.reference.clone(), hypothesis, edits: e });
    }
    Ok(AsrReport { model: ModelIdentity { path: model.to_path_buf(), sha256, published_as }, items: scores, wer: pooled.wer(), pooled, threads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(s: &str) -> Vec<String> {
        normalise(s)
    }

    #[test]
    fn normalisation_ignores_case_punctuation_and_number_style() {
        assert_eq!(w("Ask not, what your COUNTRY can do!"), w("ask not what your country can do"));
        assert_eq!(w("I take 10 mg at 2:30."), w("i take ten mg at two thirty"));
        assert_eq!(w("about 75% of the time"), w("about seventy five percent of the time"));
        assert_eq!(w("1,200 steps"), vec!["one", "thousand", "two", "hundred", "steps"]);
        assert_eq!(w("the 3rd time"), vec!["the", "3rd", "time"]);
        assert_eq!(w("don't"), vec!["don't"]);
        assert_eq!(number_words(105), "one hundred five");
        assert_eq!(number_words(21), "twenty one");
        assert_eq!(number_words(2_000_017), "two million seventeen");
        assert_eq!(number_words(0), "zero");
    }

    #[test]
    fn edits_count_substitutions_deletions_and_insertions() {
        let e = edits(&w("ask not what your country can do"), &w("ask what you country can do for"));
        assert_eq!((e.substitutions, e.deletions, e.insertions, e.reference_words), (1, 1, 1, 7));
        assert!((e.wer().unwrap() - 3.0 / 7.0).abs() < 1e-9);
        assert_eq!(edits(&[], &w("noise")).wer(), None);
        assert_eq!(edits(&w("a b c"), &[]).deletions, 3);
    }

    #[test]
    fn a_random_file_is_not_a_published_model() {
        assert_eq!(published_name(&"0".repeat(64)), None);
        assert_eq!(published_name("a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002"), Some("base.en"));
    }

    proptest! {
        #[test]
        fn identical_text_has_no_error(words in proptest::collection::vec("[a-z]{1,8}", 1..30)) {
            let r: Vec<String> = words;
            prop_assert_eq!(edits(&r, &r).total(), 0);
        }

        #[test]
        fn edits_are_bounded_by_the_longer_text(a in proptest::collection::vec("[a-c]{1,2}", 0..20), b in proptest::collection::vec("[a-c]{1,2}", 0..20)) {
            let e = edits(&a, &b);
            prop_assert!(e.total() <= a.len().max(b.len()));
            prop_assert!(e.total() >= a.len().abs_diff(b.len()));
            // Every reference word is matched, substituted or deleted.
            prop_assert!(e.substitutions + e.deletions <= a.len());
            prop_assert_eq!(a.len() - e.deletions + e.insertions, b.len());
        }

        #[test]
        fn normalising_never_panics_and_is_idempotent(s in "\\PC{0,60}") {
            let once = normalise(&s);
            let twice = normalise(&once.join(" "));
            prop_assert_eq!(once, twice);
        }
    }
}
