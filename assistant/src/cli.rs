//! The `hearth` command line. Each subcommand's help is written for the people who run a
//! practice's server. The command enum is open for more groups (`models`, `scribe`) later.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Hearth: reminders, secure messages and an on-premises scribe for therapy practices.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, long_about = None)]
pub struct Cli {
    /// Folder holding the database, the encryption key and hearth.toml. Created on first run.
    #[arg(long, global = true, default_value = "./data", env = "HEARTH_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Settings file to use instead of DATA_DIR/hearth.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the service so staff can sign in from a browser.
    Serve(ServeArgs),
    /// Send queued messages (reminders, notices, replies) until stopped. Run any number of
    /// these next to `serve` (with `[dispatch] in_serve = false`) or none (the default: `serve`
    /// sends). Safe to kill at any moment: nothing is lost or sent twice.
    Dispatch,
    /// Run scribe jobs (transcribe, draft) until stopped. Run any number of these where the
    /// CPUs are (with `[scribe] in_serve = false`) or none (the default: `serve` runs one). A
    /// job whose worker dies is taken over when its lease runs out.
    Worker,
    /// Bring the database up to date with this version of Hearth (safe to run repeatedly).
    Migrate,
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Fill a new database with a made-up practice to try Hearth out. Every person in it is
    /// fictional; phone numbers are from the 555-01xx range reserved for fiction.
    Demo,
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage the encryption keys that protect client records at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// See and fetch the local AI models (speech to text, note drafting). They run on this
    /// machine only; audio and notes are never sent anywhere.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Use the on-premises scribe from the command line.
    #[command(subcommand)]
    Scribe(ScribeCommand),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show every model Hearth knows, whether it is installed here and intact.
    List {
        /// Folder holding the model files.
        #[arg(long, env = "HEARTH_MODELS_DIR")]
        models_dir: Option<PathBuf>,
    },
    /// Download a model (e.g. `base.en`), resuming an interrupted download and checking the
    /// published checksum before it is used. The only command that reaches the internet.
    Pull {
        /// The model's name, as `hearth models list` shows it.
        name: String,
        /// Folder to put the model files in.
        #[arg(long, env = "HEARTH_MODELS_DIR")]
        models_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScribeCommand {
    /// Transcribe a recording (WAV, MP3, FLAC, OGG/Opus, M4A) on this machine and print the
    /// transcript. Silence is skipped; nothing leaves the machine.
    Transcribe(TranscribeArgs),
    /// Draft a progress note from a transcript (WebVTT with voice tags, or `Speaker: text`
    /// lines). Every sentence cites the transcript cues it rests on; risk flags and a CPT
    /// suggestion come first. A draft is for a clinician to review and sign, never final.
    Draft(DraftArgs),
    /// Transcribe a recording and draft a note from it in one step.
    Run(RunArgs),
}

/// Options every drafting command shares.
#[derive(Debug, Args)]
pub struct DraftFormatArgs {
    /// The note format: soap, dap, birp, girp, psychotherapy, treatment-plan, or the key of a
    /// practice format in --formats-dir.
    #[arg(long, default_value = "soap")]
    pub format: String,
    /// Print the draft as one JSON object instead of a readable note.
    #[arg(long)]
    pub json: bool,
    /// The session kind, when the voices do not say it: individual, couples, family,
    /// family-without-client, group or dictation.
    #[arg(long)]
    pub kind: Option<String>,
    /// The clinician's voice, when voices are names rather than `Clinician`.
    #[arg(long)]
    pub clinician: Option<String>,
    /// Folder of practice-defined formats (`*.toml`).
    #[arg(long, env = "HEARTH_FORMATS_DIR")]
    pub formats_dir: Option<PathBuf>,
    /// Folder holding the model files.
    #[arg(long, env = "HEARTH_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DraftArgs {
    /// The transcript file.
    pub file: PathBuf,
    #[command(flatten)]
    pub draft: DraftFormatArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recording (WAV, MP3, FLAC, OGG/Opus, M4A).
    pub file: PathBuf,
    /// A speech model name from `hearth models list` or a ggml model file.
    #[arg(long, default_value = crate::model_commands::DEFAULT_SPEECH_MODEL)]
    pub model: String,
    /// For a stereo recording with one person per channel: their names in channel order,
    /// e.g. `--speakers Clinician,Client`.
    #[arg(long, value_delimiter = ',')]
    pub speakers: Vec<String>,
    #[command(flatten)]
    pub draft: DraftFormatArgs,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// The recording.
    pub file: PathBuf,
    /// A speech model name from `hearth models list` (e.g. `base.en`) or a ggml model file.
    #[arg(long, default_value = crate::model_commands::DEFAULT_SPEECH_MODEL)]
    pub model: String,
    /// Print WebVTT (with voice tags) instead of plain timed lines.
    #[arg(long)]
    pub vtt: bool,
    /// Language code such as `en`; by default multilingual models detect it.
    #[arg(long)]
    pub language: Option<String>,
    /// For a stereo recording with one person per channel: their names in channel order,
    /// e.g. `--speakers Clinician,Client`.
    #[arg(long, value_delimiter = ',')]
    pub speakers: Vec<String>,
    /// CPU threads for the model (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Folder holding the model files.
    #[arg(long, env = "HEARTH_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on. Keep 127.0.0.1 unless a TLS proxy sits in front.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// If the database has no practice yet, add the fictional demo practice.
    #[arg(long)]
    pub demo_if_empty: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a staff member. The password is asked for at the terminal, or read from standard
    /// input with --password-stdin; it is never taken from the command line, where other
    /// users of the machine could see it.
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The practice's name, as shown to staff (it is created if new).
    #[arg(long)]
    pub practice: String,
    /// The staff member's e-mail address; they sign in with it.
    #[arg(long)]
    pub email: String,
    /// Their full name.
    #[arg(long)]
    pub name: String,
    /// Roles, comma-separated: admin, clinician, trainee, supervisor, front_desk, biller.
    #[arg(long, value_delimiter = ',', required = true)]
    pub roles: Vec<String>,
    /// For a trainee: the e-mail of the supervisor who co-signs their notes.
    #[arg(long)]
    pub supervisor: Option<String>,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no audit entry was changed, removed or reordered since it was written.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new master key and re-wrap every record's data key with it; the records
    /// themselves are not re-encrypted. The old master key is kept until every data key is
    /// re-wrapped, so an interrupted rotation can simply be run again.
    Rotate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_a_listen_address_and_the_data_dir_anywhere() {
        let cli = Cli::try_parse_from([
            "hearth",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--demo-if-empty",
        ])
        .unwrap();
        assert_eq!(cli.data_dir, PathBuf::from("/tmp/x"));
        let Command::Serve(args) = cli.command else {
            panic!("parsed as serve")
        };
        assert_eq!(args.listen.unwrap().port(), 0);
        assert!(args.demo_if_empty);
    }

    #[test]
    fn user_add_has_no_password_argument() {
        let err = Cli::try_parse_from([
            "hearth",
            "user",
            "add",
            "--practice",
            "P",
            "--email",
            "a@b.org",
            "--name",
            "A",
            "--roles",
            "admin",
            "--password",
            "x",
        ]);
        assert!(err.is_err());
        let ok = Cli::try_parse_from([
            "hearth",
            "user",
            "add",
            "--practice",
            "P",
            "--email",
            "a@b.org",
            "--name",
            "A",
            "--roles",
            "clinician,supervisor",
        ])
        .unwrap();
        let Command::User(UserCommand::Add(args)) = ok.command else {
            panic!("parsed as user add")
        };
        assert_eq!(args.roles, vec!["clinician", "supervisor"]);
    }
}
