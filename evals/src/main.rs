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
        /// Run one length in this process and print its figures as JSON (used by the command
        /// itself).
        #[arg(long, hide = true)]
        one: bool,
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
        Command::GatewayBench { rate, seconds, messages, database_url } => {
            anyhow::ensure!(rate > 0 && seconds > 0 && messages > 0, "rate, seconds and messages must be at least 1");
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
            let report = runtime.block_on(evals::gateway_bench::run(database_url, rate, seconds, messages))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::DraftBench { minutes, corpus, models_dir, one } => {
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
            print!("{}", evals::draft_bench::table(&runs, cores));
        }
    }
    Ok(())
}
