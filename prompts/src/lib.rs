//! Note formats as data (SOAP, DAP, BIRP, GIRP, psychotherapy notes, treatment-plan updates and
//! practice-defined formats): their sections, what belongs in each, example phrasings, and the
//! prompt templates with their versions.
//!
//! It must not know about storage or HTTP.

/// A note format and its sections, parsed and validated from TOML.
pub mod format;
/// The formats that ship with Hearth.
pub mod builtin;
/// Built-in plus practice-defined formats, looked up by key.
pub mod registry;
/// Prompt templates for generative drafting, with strict placeholders and versions.
pub mod template;

pub use format::{ContentKind, FormatError, FormatKind, NoteFormat, Section, SpeakerHint};
pub use registry::{FormatRegistry, RegistryError};
pub use template::{PromptTemplate, TemplateError};
