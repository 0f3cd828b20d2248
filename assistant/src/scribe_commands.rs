//! `hearth scribe draft` and `hearth scribe run`: a progress-note draft from a transcript or a
//! recording, on this machine. The JSON form is the scribe's stable interface (`scribe::Draft`);
//! the text form is for reading at a terminal.

use crate::cli::{DraftArgs, DraftFormatArgs, RunArgs};
use anyhow::{Context, bail};
use models::embed::MiniLmEmbedder;
use models::manifest;
use prompts::{FormatRegistry, NoteFormat};
use scribe::cpt::SessionKind;
use scribe::{Draft, DraftOptions, Transcript};
use std::fmt::Write as _;
use std::path::Path;

/// Largest transcript file `scribe draft` reads.
pub const MAX_TRANSCRIPT_BYTES: u64 = 16 * 1024 * 1024;

pub fn draft(args: DraftArgs) -> anyhow::Result<()> {
    let transcript = read_transcript(&args.file)?;
    let draft = draft_from(&transcript, &args.draft)?;
    print!("{}", render(&draft, args.draft.json)?);
    Ok(())
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // Check the format and the embedding model before spending minutes on speech to text.
    let registry = registry(args.draft.formats_dir.as_deref())?;
    format_for(&registry, &args.draft.format)?;
    let transcript = crate::model_commands::transcribe_recording(
        &args.file,
        &args.model,
        args.draft.models_dir.as_deref(),
        None,
        &args.speakers,
        None,
    )?;
    let draft = draft_from(&transcript, &args.draft)?;
    print!("{}", render(&draft, args.draft.json)?);
    Ok(())
}

fn read_transcript(path: &Path) -> anyhow::Result<Transcript> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("no transcript at {}: give the path of a WebVTT or `Speaker: text` file", path.display()))?;
    if meta.len() > MAX_TRANSCRIPT_BYTES {
        bail!("the transcript is {} bytes; the limit is {MAX_TRANSCRIPT_BYTES}: split it into parts", meta.len());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {} (is it UTF-8 text?)", path.display()))?;
    let transcript = Transcript::parse(&text)?;
    if transcript.cues.is_empty() {
        bail!("the transcript has no cues: nothing was said that a note could be drafted from");
    }
    Ok(transcript)
}

fn registry(formats_dir: Option<&Path>) -> anyhow::Result<FormatRegistry> {
    Ok(match formats_dir {
        Some(dir) => FormatRegistry::load(dir)?,
        None => FormatRegistry::builtin_only(),
    })
}

fn format_for<'a>(registry: &'a FormatRegistry, key: &str) -> anyhow::Result<&'a NoteFormat> {
    registry.get(key).with_context(|| {
        let known: Vec<&str> = registry.all().map(NoteFormat::key).collect();
        format!("no note format `{key}`; known formats: {}", known.join(", "))
    })
}

/// Reads `--kind`.
pub fn parse_kind(kind: &str) -> anyhow::Result<SessionKind> {
    Ok(match kind.to_ascii_lowercase().as_str() {
        "individual" => SessionKind::Individual,
        "couples" => SessionKind::Couples,
        "family" => SessionKind::Family { client_present: true },
        "family-without-client" => SessionKind::Family { client_present: false },
        "group" => SessionKind::Group,
        "dictation" => SessionKind::Dictation,
        other => bail!(
            "unknown session kind `{other}`: use individual, couples, family, family-without-client, group or dictation"
        ),
    })
}

fn draft_from(transcript: &Transcript, args: &DraftFormatArgs) -> anyhow::Result<Draft> {
    let registry = registry(args.formats_dir.as_deref())?;
    let format = format_for(&registry, &args.format)?;
    let options = DraftOptions {
        kind: args.kind.as_deref().map(parse_kind).transpose()?,
        clinician_voice: args.clinician.clone(),
        client_voice: None,
    };
    let dir = args.models_dir.clone().unwrap_or_else(manifest::models_dir);
    let mut embedder = MiniLmEmbedder::load_verified(&dir)?;
    Ok(scribe::draft_transcript(transcript, format, &options, &mut embedder, MiniLmEmbedder::MANIFEST_NAME)?)
}

/// The draft as JSON, or as a note to read: risk flags first, then each section with its
/// sentences and the cues they cite, ungrounded sentences marked.
pub fn render(draft: &Draft, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(draft)?));
    }
    let mut out = format!("{} draft: review, edit and sign; nothing here is final.\n\n", draft.format);
    if draft.risk_flags.is_empty() {
        out.push_str("Risk flags: none found in the transcript (this is not a risk assessment).\n");
    } else {
        out.push_str("RISK FLAGS (review first):\n");
        for f in &draft.risk_flags {
            let _ = writeln!(out, "  ! {} ({}) cues {:?}: \"{}\"", f.category, f.severity, f.evidence, f.quote);
        }
    }
    for section in &draft.sections {
        let _ = writeln!(out, "\n{} ({})", section.title, section.key);
        if section.not_discussed {
            out.push_str("  Not discussed.\n");
        }
        for s in &section.sentences {
            let mark = if s.grounded { "" } else { "[UNSUPPORTED: check against the transcript] " };
            let _ = writeln!(out, "  - {mark}{} {:?}", s.text, s.evidence);
        }
    }
    let _ = writeln!(
        out,
        "\nCPT suggestion: {} ({})",
        draft.cpt.code.as_deref().unwrap_or("none"),
        draft.cpt.reason
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_kinds_parse_and_unknown_ones_say_what_is_allowed() {
        assert_eq!(parse_kind("Group").unwrap(), SessionKind::Group);
        assert_eq!(parse_kind("family-without-client").unwrap(), SessionKind::Family { client_present: false });
        let err = parse_kind("solo").unwrap_err().to_string();
        assert!(err.contains("individual") && err.contains("dictation"), "{err}");
    }

    #[test]
    fn an_unknown_format_lists_the_known_ones() {
        let reg = FormatRegistry::builtin_only();
        let err = format_for(&reg, "soapy").unwrap_err().to_string();
        assert!(err.contains("soap") && err.contains("girp"), "{err}");
    }
}
