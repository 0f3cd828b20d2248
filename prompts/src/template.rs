//! Prompt templates for generative drafting. Placeholders are `{{name}}`; rendering fails if a
//! value is missing or unexpected, so a template and its caller can never silently drift apart.
//! Each template has a version that drafts record, like formats do.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("prompt template `{template}` needs a value for `{name}`")]
    Missing { template: String, name: String },
    #[error("prompt template `{template}` has no placeholder `{name}`")]
    Unexpected { template: String, name: String },
    #[error("prompt template `{template}` has an unclosed `{{{{` at byte {at}")]
    Unclosed { template: String, at: usize },
}

#[derive(Debug, Clone)]
pub struct PromptTemplate {
    name: &'static str,
    version: &'static str,
    text: &'static str,
}

/// The prompt for drafting one section from the transcript lines assigned to it.
pub const SECTION_DRAFT: PromptTemplate =
    PromptTemplate { name: "section-draft", version: "1", text: include_str!("../templates/section-draft.txt") };

impl PromptTemplate {
    pub fn name(&self) -> &str {
        self.name
    }

    /// `section-draft@1+<first 12 hex of sha256(text)>`.
    pub fn version_tag(&self) -> String {
        let digest = Sha256::digest(self.text.as_bytes());
        format!("{}@{}+{}", self.name, self.version, hex::encode(&digest[..6]))
    }

    /// The placeholder names the template uses.
    pub fn placeholders(&self) -> Result<BTreeSet<&str>, TemplateError> {
        let mut names = BTreeSet::new();
        let mut rest = self.text;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed { template: self.name.into(), at: offset + start })?;
            names.insert(after[..end].trim());
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        Ok(names)
    }

    /// Fills every placeholder. Values are inserted verbatim (they are never re-scanned, so a
    /// transcript containing `{{` cannot inject a placeholder).
    pub fn render(&self, values: &[(&str, &str)]) -> Result<String, TemplateError> {
        let wanted = self.placeholders()?;
        for (name, _) in values {
            if !wanted.contains(name) {
                return Err(TemplateError::Unexpected { template: self.name.into(), name: (*name).into() });
            }
        }
        let mut out = String::with_capacity(self.text.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
        let mut rest = self.text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").expect("placeholders() already checked every `{{` is closed");
            let name = after[..end].trim();
            let value = values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| TemplateError::Missing { template: self.name.into(), name: name.into() })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_values() -> Vec<(&'static str, &'static str)> {
        vec![
            ("format_name", "SOAP"),
            ("section_title", "Plan"),
            ("section_key", "P"),
            ("section_guidance", "Homework and next steps."),
            ("cues", "12 Clinician: Try it daily {{format_name}}."),
        ]
    }

    #[test]
    fn the_section_prompt_renders_with_every_value() {
        let text = SECTION_DRAFT.render(&all_values()).unwrap();
        assert!(text.contains("Section: Plan (P)"));
        assert!(!text.contains("{{section"), "all placeholders filled");
        // A value containing braces is inserted verbatim, not expanded.
        assert!(text.contains("Try it daily {{format_name}}."));
    }

    #[test]
    fn a_missing_value_is_an_error_naming_it() {
        let mut v = all_values();
        v.retain(|(n, _)| *n != "cues");
        assert_eq!(
            SECTION_DRAFT.render(&v).unwrap_err(),
            TemplateError::Missing { template: "section-draft".into(), name: "cues".into() }
        );
    }

    #[test]
    fn an_unexpected_value_is_an_error() {
        let mut v = all_values();
        v.push(("diagnosis", "x"));
        assert!(matches!(SECTION_DRAFT.render(&v), Err(TemplateError::Unexpected { .. })));
    }

    #[test]
    fn an_unclosed_placeholder_is_reported() {
        let t = PromptTemplate { name: "t", version: "1", text: "a {{b" };
        assert_eq!(t.placeholders().unwrap_err(), TemplateError::Unclosed { template: "t".into(), at: 2 });
    }

    #[test]
    fn the_version_tag_names_template_and_version() {
        assert!(SECTION_DRAFT.version_tag().starts_with("section-draft@1+"));
    }
}
