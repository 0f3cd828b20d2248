//! `hearth-evals`: the scribe's quality figures on a corpus.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "hearth-evals", about = "Hearth's evaluations and benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drafts every session of each corpus in SOAP, DAP, BIRP and GIRP (embedding mode) and
    /// reports key-fact recall, placement, grounding, must_not_claim hits, risk and CPT.
    Scribe {
        /// A corpus folder (WebVTT + .gold.json per session); repeat for several.
        #[arg(long, required = true)]
        corpus: Vec<PathBuf>,
        /// Where the model files are.
        #[arg(long, env = "HEARTH_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
        /// Folder for report.json and report.md.
        #[arg(long, default_value = "evals/out")]
        out: PathBuf,
        /// Also write every unit's salience features with its gold label (JSON lines).
        #[arg(long)]
        units: Option<PathBuf>,
        /// Also write every draft as JSON into this folder (`<session>.<format>.json`).
        #[arg(long)]
        drafts: Option<PathBuf>,
    },
    /// Draft time and peak memory for transcripts of several lengths, each in its own process.
    DraftBench {
        /// Lengths in minutes.
        #[arg(long, value_delimiter = ',', default_value = "10,30,50,90")]
        minutes: Vec<u64>,
        /// Corpora the long transcripts are made from.
        #[arg(long, default_values = ["../shared/corpus", "evals/corpus"])]
        corpus: Vec<PathBuf>,
        #[arg(long, env = "HEARTH_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
        /// Folder for draft-bench.md and .json.
        #[arg(long, default_value = "evals/out")]
        out: PathBuf,
        /// Run one length in this process and print its figures as JSON (used by the command
        /// itself).
        #[arg(long, hide = true)]
        one: bool,
    },
    /// Word error rate of a Whisper model through Hearth's transcription pipeline, on speech
    /// made with espeak-ng from known text and on real clips with known text. Without a
    /// published model it says so and prints no figure.
    Asr {
        /// A ggml Whisper model file; default: a published one installed in the models folder.
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, env = "HEARTH_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
        /// Known sentences to speak with espeak-ng, one per line.
        #[arg(long, default_value = "evals/asr/sentences.txt")]
        sentences: PathBuf,
        /// Real clips with their reference text (`file<TAB>text`), looked up in --audio-dir.
        #[arg(long, default_value = "evals/asr/clips.tsv")]
        clips: PathBuf,
        #[arg(long, env = "HEARTH_AUDIO_DIR", default_value = "../shared/audio")]
        audio_dir: PathBuf,
        /// Use only the first N sentences and the first N clips.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Cap tokens per 30 s window and turn off the temperature fallback (for random-weight
        /// models, which never stop on their own).
        #[arg(long)]
        max_tokens: Option<u32>,
        /// Folder for asr.json and asr.md.
        #[arg(long, default_value = "evals/out")]
        out: PathBuf,
    },
    /// Gathers the sections the other commands left in the output folder into one report
    /// (evals/REPORT.md), with the machine, commit and date.
    Report {
        #[arg(long, default_value = "evals/out")]
        out: PathBuf,
        #[arg(long, default_value = "evals/REPORT.md")]
        to: PathBuf,
        /// A line about the conditions (e.g. other work on the machine).
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Embeds each line of standard input and prints one JSON array per line (for the fitting
    /// tools in evals/tools).
    Embed {
        #[arg(long, env = "HEARTH_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
    },
    /// The reminder scheduler's tick over a seeded schedule: idle and busy tick time, peak memory.
    BenchReminders {
        /// Appointments to seed (two planned reminders each).
        #[arg(long, default_value_t = 1_000_000)]
        appointments: usize,
        /// Busy ticks to time (one simulated hour apart).
        #[arg(long, default_value_t = 8)]
        busy_ticks: usize,
        /// `postgres://…` to run on PostgreSQL (a fresh schema is created and dropped);
        /// default: a fresh SQLite file in a temporary folder.
        #[arg(long)]
        database_url: Option<String>,
        /// Folder for reminders-bench-<backend>.md.
        #[arg(long, default_value = "evals/out")]
        out: PathBuf,
    },
    /// The messaging gateway under load against a local fake Twilio: inbound SMS webhook
    /// latency at a fixed request rate (p50, p99, errors) and dispatch throughput.
    GatewayBench {
        /// Inbound webhooks per second (open loop).
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// How long to post inbound webhooks.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Messages queued for the dispatch part.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Folder for gateway-bench-<backend>.md and .json.
        #[arg(long, default_value = "evals/out")]
        out: PathBuf,
        /// A PostgreSQL URL (a fresh database); a temporary SQLite file if left out.
        #[arg(long)]
        database_url: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Scribe { corpus, models_dir, out, units, drafts } => {
            let mut embedder = evals::scribe_eval::load_embedder(&models_dir)?;
            let formats: Vec<&prompts::NoteFormat> = evals::scribe_eval::FORMATS
                .iter()
                .map(|k| prompts::builtin::get(k).expect("the built-in progress formats exist"))
                .collect();
            let report = evals::scribe_eval::run(&corpus, &formats, &mut embedder)?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
            let md = report.markdown();
            std::fs::write(out.join("report.md"), &md)?;
            if let Some(path) = units {
                let lines: Vec<String> = report.units.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
                std::fs::write(&path, lines.join("\n"))?;
            }
            if let Some(dir) = drafts {
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                for (stem, format, draft) in &report.texts {
                    std::fs::write(dir.join(format!("{stem}.{format}.json")), serde_json::to_string_pretty(draft)?)?;
                }
            }
            print!("{md}");
        }
        Command::Asr { model, models_dir, sentences, clips, audio_dir, limit, threads, max_tokens, out } => {
            let model = match model {
                Some(m) => m,
                None => match evals::asr::installed_published(&models_dir).into_iter().next() {
                    Some(m) => m,
                    None => {
                        let reason = format!(
                            "WER not measured: {} holds no published Whisper model with real weights (a vocabulary-only \
                             file or random-weight test models cannot transcribe, so a figure would mean nothing). \
                             Install one with `hearth models pull base.en` where the internet is reachable, or pass \
                             --model PATH.",
                            models_dir.display()
                        );
                        std::fs::create_dir_all(&out)?;
                        std::fs::write(out.join("asr.json"), serde_json::to_string_pretty(&serde_json::json!({ "measured": false, "reason": reason }))?)?;
                        println!("{reason}");
                        return Ok(());
                    }
                },
            };
            let work = out.join("asr-audio");
            let n = limit.unwrap_or(usize::MAX);
            let mut spoken = evals::asr::read_sentences(&sentences)?;
            spoken.truncate(n);
            let mut items = evals::asr::synthesise(&spoken, &work)?;
            items.extend(evals::asr::listed_clips(&clips, &audio_dir)?.into_iter().take(n));
            let report = evals::asr::run(&model, &items, threads, max_tokens)?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("asr.json"), serde_json::to_string_pretty(&report)?)?;
            let md = report.markdown();
            std::fs::write(out.join("asr.md"), &md)?;
            print!("{md}");
        }
        Command::Embed { models_dir } => {
            use std::io::BufRead;
            let mut embedder = evals::scribe_eval::load_embedder(&models_dir)?;
            let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
            for chunk in lines.chunks(32) {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                for v in models::embed::Embedder::embed(&mut embedder, &refs)? {
                    println!("{}", serde_json::to_string(&v)?);
                }
            }
        }
        Command::GatewayBench { rate, seconds, messages, database_url, out } => {
            anyhow::ensure!(rate > 0 && seconds > 0 && messages > 0, "rate, seconds and messages must be at least 1");
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
            let report = runtime.block_on(evals::gateway_bench::run(database_url, rate, seconds, messages))?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let md = report.table(cores);
            std::fs::create_dir_all(&out)?;
            let backend = report.backend.to_lowercase();
            std::fs::write(out.join(format!("gateway-bench-{backend}.json")), serde_json::to_string_pretty(&report)?)?;
            std::fs::write(out.join(format!("gateway-bench-{backend}.md")), &md)?;
            print!("{md}");
        }
        Command::Report { out, to, notes } => {
            let commit = std::process::Command::new("git")
                .args(["rev-parse", "--short", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map_or_else(|| "unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            let date = std::process::Command::new("date")
                .args(["-u", "+%Y-%m-%d %H:%M UTC"])
                .output()
                .ok()
                .map_or_else(String::new, |o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            let md = evals::report::assemble(&out, &commit, &date, &notes);
            std::fs::write(&to, &md).with_context(|| format!("writing {}", to.display()))?;
            println!("wrote {}", to.display());
        }
        Command::DraftBench { minutes, corpus, models_dir, one, out } => {
            if one {
                let run = evals::draft_bench::run_one(&corpus, &models_dir, minutes[0])?;
                println!("{}", serde_json::to_string(&run)?);
                return Ok(());
            }
            let exe = std::env::current_exe().context("finding this program")?;
            let mut runs = Vec::new();
            for m in minutes {
                let mut cmd = std::process::Command::new(&exe);
                cmd.args(["draft-bench", "--one", "--minutes", &m.to_string(), "--models-dir"]).arg(&models_dir);
                for c in &corpus {
                    cmd.arg("--corpus").arg(c);
                }
                let out = cmd.output().context("running one draft benchmark")?;
                anyhow::ensure!(out.status.success(), "the {m}-minute run failed: {}", String::from_utf8_lossy(&out.stderr));
                runs.push(serde_json::from_slice::<evals::draft_bench::DraftRun>(&out.stdout)?);
            }
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let md = evals::draft_bench::table(&runs, cores);
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("draft-bench.json"), serde_json::to_string_pretty(&runs)?)?;
            std::fs::write(out.join("draft-bench.md"), &md)?;
            print!("{md}");
        }
        Command::BenchReminders { appointments, busy_ticks, database_url, out } => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
            let report = rt.block_on(evals::reminder_bench::run_in_fresh_database(database_url.as_deref(), appointments, busy_ticks))?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let md = report.table(cores);
            std::fs::create_dir_all(&out)?;
            let backend = if report.backend == "SQLite" { "sqlite" } else { "postgres" };
            std::fs::write(out.join(format!("reminders-bench-{backend}.md")), &md)?;
            print!("{md}");
        }
    }
    Ok(())
}
