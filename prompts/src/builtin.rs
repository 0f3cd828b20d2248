//! The formats that ship with Hearth, compiled in from `prompts/formats/`.

use crate::format::NoteFormat;
use std::sync::LazyLock;

const SOURCES: [(&str, &str); 6] = [
    ("soap", include_str!("../formats/soap.toml")),
    ("dap", include_str!("../formats/dap.toml")),
    ("birp", include_str!("../formats/birp.toml")),
    ("girp", include_str!("../formats/girp.toml")),
    ("psychotherapy", include_str!("../formats/psychotherapy.toml")),
    ("treatment-plan", include_str!("../formats/treatment-plan.toml")),
];

static BUILTINS: LazyLock<Vec<NoteFormat>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(key, text)| {
            let f = NoteFormat::from_toml(text)
                .unwrap_or_else(|e| panic!("built-in format `{key}` is invalid (a test checks this): {e}"));
            assert_eq!(f.key(), *key, "built-in format file key matches its table entry");
            f
        })
        .collect()
});

/// All built-in formats, in a stable order: the four progress formats first.
pub fn all() -> &'static [NoteFormat] {
    &BUILTINS
}

/// A built-in format by key, case-insensitively (`SOAP` and `soap` both work).
pub fn get(key: &str) -> Option<&'static NoteFormat> {
    let key = key.to_ascii_lowercase();
    BUILTINS.iter().find(|f| f.key() == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatKind;

    #[test]
    fn every_built_in_format_parses() {
        assert_eq!(all().len(), SOURCES.len());
    }

    #[test]
    fn progress_formats_have_the_section_keys_drafts_promise() {
        let keys = |k: &str| get(k).unwrap().sections.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys("soap"), ["S", "O", "A", "P"]);
        assert_eq!(keys("dap"), ["D", "A", "P"]);
        assert_eq!(keys("birp"), ["B", "I", "R", "P"]);
        assert_eq!(keys("GIRP"), ["G", "I", "R", "P"]);
    }

    #[test]
    fn every_progress_section_has_cues_for_classification() {
        for f in all().iter().filter(|f| f.kind == FormatKind::Progress) {
            for s in &f.sections {
                assert!(s.cues.len() >= 3, "{} {} needs cues", f.name, s.key);
            }
        }
    }

    #[test]
    fn psychotherapy_notes_are_their_own_kind() {
        assert_eq!(get("psychotherapy").unwrap().kind, FormatKind::Psychotherapy);
        assert_eq!(get("treatment-plan").unwrap().kind, FormatKind::TreatmentPlan);
    }
}
