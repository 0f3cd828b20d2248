//! A note format: an ordered list of sections, each saying what belongs in it (guidance, used
//! both to classify transcript utterances and to prompt a generator), utterance-like `cues` that
//! anchor classification, and example note phrasings.
//!
//! Formats are written in TOML (see `prompts/formats/*.toml`). Parsing validates everything a
//! drafting pipeline relies on, so a `NoteFormat` in hand is always usable.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Limits on practice-defined formats. They keep prompts short and classification meaningful.
pub const MAX_SECTIONS: usize = 12;
pub const MAX_TEXT_CHARS: usize = 2_000;
pub const MAX_EXAMPLES: usize = 20;
pub const MAX_FORMAT_BYTES: usize = 64 * 1024;

/// What a format is used for. Psychotherapy notes are stored apart from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    Progress,
    Psychotherapy,
    TreatmentPlan,
}

/// Who usually says what belongs in a section: a hint for the classifier, never a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerHint {
    Client,
    Clinician,
    #[default]
    Any,
}

/// The kinds of content a progress note is made of, following the usual documentation
/// conventions (what the client reports, what was observed or measured, what the clinician did,
/// how the client responded, the clinician's assessment, the plan, treatment goals). A section
/// says which kinds it holds, so a drafter that recognises the kind of an utterance can place it
/// in any format, built-in or custom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    ClientReport,
    Observation,
    Intervention,
    Response,
    Assessment,
    Plan,
    Goal,
}

impl ContentKind {
    pub const ALL: [ContentKind; 7] = [
        ContentKind::ClientReport,
        ContentKind::Observation,
        ContentKind::Intervention,
        ContentKind::Response,
        ContentKind::Assessment,
        ContentKind::Plan,
        ContentKind::Goal,
    ];

    /// Position in [`ContentKind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).expect("ALL lists every kind")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub key: String,
    pub title: String,
    pub guidance: String,
    pub speaker: SpeakerHint,
    pub cues: Vec<String>,
    pub examples: Vec<String>,
    /// The kinds of content that belong here (may be empty: then placement relies on the
    /// guidance, cues and examples alone). Each kind belongs to at most one section.
    pub holds: Vec<ContentKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoteFormat {
    key: String,
    pub name: String,
    pub version: String,
    pub kind: FormatKind,
    pub description: String,
    pub sections: Vec<Section>,
    fingerprint: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormatError {
    #[error("the format file is not valid TOML or has a wrong field: {0}")]
    Syntax(String),
    #[error("the format file is {0} bytes; the limit is {MAX_FORMAT_BYTES} bytes")]
    TooLarge(usize),
    #[error("`{field}` is invalid: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> FormatError {
    FormatError::Invalid { field: field.into(), problem: problem.into() }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFormat {
    key: String,
    name: String,
    version: String,
    kind: FormatKind,
    #[serde(default)]
    description: String,
    #[serde(rename = "section", default)]
    sections: Vec<RawSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    key: String,
    title: String,
    guidance: String,
    #[serde(default)]
    speaker: SpeakerHint,
    #[serde(default)]
    cues: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    holds: Vec<ContentKind>,
}

impl NoteFormat {
    /// Parses and validates a format written in TOML.
    pub fn from_toml(text: &str) -> Result<Self, FormatError> {
        if text.len() > MAX_FORMAT_BYTES {
            return Err(FormatError::TooLarge(text.len()));
        }
        let raw: RawFormat = toml::from_str(text).map_err(|e| FormatError::Syntax(e.to_string()))?;
        validate_format_key(&raw.key)?;
        check_text("name", &raw.name, 80)?;
        check_version(&raw.version)?;
        if raw.description.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid("description", format!("is longer than {MAX_TEXT_CHARS} characters")));
        }
        if raw.sections.is_empty() {
            return Err(invalid("section", "a format needs at least one [[section]]"));
        }
        if raw.sections.len() > MAX_SECTIONS {
            return Err(invalid("section", format!("a format may have at most {MAX_SECTIONS} sections")));
        }
        let mut seen = HashSet::new();
        let mut held: Vec<(ContentKind, String)> = Vec::new();
        let mut sections = Vec::with_capacity(raw.sections.len());
        for (i, s) in raw.sections.into_iter().enumerate() {
            let at = |f: &str| format!("section[{}].{f}", i + 1);
            validate_section_key(&s.key).map_err(|p| invalid(at("key"), p))?;
            if !seen.insert(s.key.clone()) {
                return Err(invalid(at("key"), format!("`{}` is used by an earlier section", s.key)));
            }
            check_text(&at("title"), &s.title, 80)?;
            check_text(&at("guidance"), &s.guidance, MAX_TEXT_CHARS)?;
            for (list, name) in [(&s.cues, "cues"), (&s.examples, "examples")] {
                if list.len() > MAX_EXAMPLES {
                    return Err(invalid(at(name), format!("at most {MAX_EXAMPLES} entries")));
                }
                for (j, e) in list.iter().enumerate() {
                    check_text(&format!("{}[{}]", at(name), j + 1), e, 400)?;
                }
            }
            for kind in &s.holds {
                if let Some((_, other)) = held.iter().find(|(k, _)| k == kind) {
                    return Err(invalid(
                        at("holds"),
                        format!("{kind:?} is already held by section `{other}`; each kind of content belongs to one section"),
                    ));
                }
                held.push((*kind, s.key.clone()));
            }
            sections.push(Section {
                key: s.key,
                title: s.title,
                guidance: s.guidance,
                speaker: s.speaker,
                cues: s.cues,
                examples: s.examples,
                holds: s.holds,
            });
        }
        // The fingerprint covers the exact text, so an edit without a version bump still shows
        // up in a draft's provenance.
        let fingerprint = hex::encode(&Sha256::digest(text.as_bytes())[..6]);
        Ok(Self {
            key: raw.key,
            name: raw.name,
            version: raw.version,
            kind: raw.kind,
            description: raw.description,
            sections,
            fingerprint,
        })
    }

    /// The lowercase key used on the command line and in the API (`soap`, `dap`, ...).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What a draft records as its format version: `soap@1+3fa2b9c01d7e`.
    pub fn version_tag(&self) -> String {
        format!("{}@{}+{}", self.key, self.version, self.fingerprint)
    }

    pub fn section(&self, key: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.key == key)
    }
}

/// Format keys appear in URLs and file names: lowercase letters, digits and `-`, 2–32 long.
pub fn validate_format_key(key: &str) -> Result<(), FormatError> {
    let ok = (2..=32).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid("key", "use 2–32 lowercase letters, digits or `-`, starting with a letter (e.g. `intake-note`)"))
    }
}

fn validate_section_key(key: &str) -> Result<(), String> {
    let ok = (1..=16).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err("use 1–16 capital letters, digits or `_`, starting with a letter (e.g. `S` or `RISK`)".into())
    }
}

fn check_version(v: &str) -> Result<(), FormatError> {
    let ok = (1..=32).contains(&v.len())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok { Ok(()) } else { Err(invalid("version", "use up to 32 letters, digits, `.`, `-` or `_` (e.g. `2` or `2026.11`)")) }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), FormatError> {
    if text.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(invalid(field, format!("is longer than {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
key = "intake-note"
name = "Intake"
version = "1"
kind = "progress"
[[section]]
key = "HISTORY"
title = "History"
guidance = "Relevant history the client reports."
"#;

    #[test]
    fn a_minimal_custom_format_parses() {
        let f = NoteFormat::from_toml(MINIMAL).unwrap();
        assert_eq!(f.key(), "intake-note");
        assert_eq!(f.sections.len(), 1);
        assert_eq!(f.sections[0].speaker, SpeakerHint::Any);
        assert!(f.version_tag().starts_with("intake-note@1+"));
    }

    #[test]
    fn an_edit_without_a_version_bump_changes_the_version_tag() {
        let a = NoteFormat::from_toml(MINIMAL).unwrap();
        let b = NoteFormat::from_toml(&MINIMAL.replace("Relevant history", "Pertinent history")).unwrap();
        assert_ne!(a.version_tag(), b.version_tag());
    }

    #[test]
    fn duplicate_section_keys_are_refused_with_the_section_named() {
        let text = format!("{MINIMAL}\n[[section]]\nkey = \"HISTORY\"\ntitle = \"x\"\nguidance = \"y\"\n");
        let err = NoteFormat::from_toml(&text).unwrap_err();
        assert!(matches!(&err, FormatError::Invalid { field, .. } if field == "section[2].key"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_rather_than_ignored() {
        let err = NoteFormat::from_toml(&MINIMAL.replace("guidance", "guidanse")).unwrap_err();
        assert!(matches!(err, FormatError::Syntax(ref m) if m.contains("guidanse")), "{err}");
    }

    #[test]
    fn bad_keys_say_what_a_good_key_looks_like() {
        let err = NoteFormat::from_toml(&MINIMAL.replace("intake-note", "Intake Note")).unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
        let err = NoteFormat::from_toml(&MINIMAL.replace("\"HISTORY\"", "\"history\"")).unwrap_err();
        assert!(err.to_string().contains("capital"), "{err}");
    }

    #[test]
    fn a_kind_of_content_may_belong_to_one_section_only() {
        let ok = MINIMAL.replace("guidance = \"Relevant", "holds = [\"client_report\", \"goal\"]\nguidance = \"Relevant");
        assert_eq!(NoteFormat::from_toml(&ok).unwrap().sections[0].holds, vec![ContentKind::ClientReport, ContentKind::Goal]);
        let twice = format!("{ok}\n[[section]]\nkey = \"PLAN\"\ntitle = \"x\"\nguidance = \"y\"\nholds = [\"goal\"]\n");
        let err = NoteFormat::from_toml(&twice).unwrap_err();
        assert!(matches!(&err, FormatError::Invalid { field, .. } if field == "section[2].holds"), "{err}");
        let unknown = ok.replace("\"goal\"", "\"gaol\"");
        assert!(matches!(NoteFormat::from_toml(&unknown).unwrap_err(), FormatError::Syntax(_)));
    }

    #[test]
    fn a_format_without_sections_is_refused() {
        let text = "key = \"x-y\"\nname = \"X\"\nversion = \"1\"\nkind = \"progress\"\n";
        let err = NoteFormat::from_toml(text).unwrap_err();
        assert!(err.to_string().contains("at least one"), "{err}");
    }

    #[test]
    fn oversized_files_and_fields_are_refused() {
        let big = "#".repeat(MAX_FORMAT_BYTES + 1);
        assert_eq!(NoteFormat::from_toml(&big).unwrap_err(), FormatError::TooLarge(MAX_FORMAT_BYTES + 1));
        let long = MINIMAL.replace("Relevant history the client reports.", &"a".repeat(MAX_TEXT_CHARS + 1));
        assert!(NoteFormat::from_toml(&long).unwrap_err().to_string().contains("longer than"));
    }
}
