//! What each `hearth` subcommand does. Every command loads the layered settings first, so a
//! misconfiguration stops it with a message saying what to change.

use crate::app::{self, AppState, OnMissing};
use crate::auth::password;
use crate::authz::Role;
use crate::cli::{AuditCommand, Cli, Command, KeysCommand, ServeArgs, UserAddArgs, UserCommand};
use crate::config::{self, Settings};
use crate::domain::Email;
use anyhow::{Context, bail};
use secrecy::SecretString;
use std::io::BufRead;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // The model and scribe commands work on files alone: no database, no practice settings.
    match cli.command {
        Command::Models(command) => return crate::model_commands::run_models(command).await,
        Command::Scribe(command) => return crate::model_commands::run_scribe(command).await,
        _ => {}
    }
    let settings = config::load(&cli.data_dir, cli.config.as_deref(), std::env::vars())?;
    crate::telemetry::init(settings.log_format);
    match cli.command {
        Command::Models(_) | Command::Scribe(_) => unreachable!("handled before the settings are loaded"),
        Command::Serve(args) => serve(settings, args).await,
        Command::Dispatch => dispatch(settings).await,
        Command::Worker => worker(settings).await,
        Command::Migrate => {
            let store = app::open_store(&settings, OnMissing::Create).await?;
            store.close().await;
            println!("The database is up to date.");
            Ok(())
        }
        Command::User(UserCommand::Add(args)) => user_add(settings, args).await,
        Command::Demo => {
            let store = app::open_store(&settings, OnMissing::Create).await?;
            let logins = crate::demo::seed(&store).await?;
            store.close().await;
            crate::demo::print_logins(&logins);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let store = app::open_store(&settings, OnMissing::Refuse).await?;
            let report = store
                .verify_audit()
                .await
                .context("checking the audit log")?;
            store.close().await;
            match report {
                store::AuditReport::Intact { events } => {
                    println!(
                        "The audit log is intact: {events} entries, none changed, removed or reordered."
                    );
                    Ok(())
                }
                other => bail!(
                    "the audit log has been changed since it was written ({other:?}); keep a copy of the database and the key file and contact your administrator"
                ),
            }
        }
        Command::Keys(KeysCommand::Rotate) => {
            let store = app::open_store(&settings, OnMissing::Refuse).await?;
            let report = store.rotate_master_key().await.context(
                "rotating the master key (run it again to finish an interrupted rotation)",
            )?;
            store.close().await;
            println!(
                "New master key {} is active; {} record keys re-wrapped; retired keys: {}. Restart every other Hearth process so it loads the new key.",
                report.new_kek_id,
                report.rewrapped,
                if report.retired.is_empty() {
                    "none".to_owned()
                } else {
                    report.retired.join(", ")
                }
            );
            Ok(())
        }
    }
}

async fn serve(mut settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    let store = app::open_store(&settings, OnMissing::Create).await?;
    if args.demo_if_empty
        && store
            .list_practices()
            .await
            .context("listing practices")?
            .is_empty()
    {
        let logins = crate::demo::seed(&store).await?;
        crate::demo::print_logins(&logins);
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another Hearth already running there?)",
                settings.listen
            )
        })?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    tracing::info!(%addr, "Hearth is listening");
    println!("Hearth is listening on http://{addr}");
    let dispatcher = if settings.gateway.dispatch.in_serve {
        let d = crate::gateway::dispatcher(store.clone(), &settings)?;
        Some(crate::gateway::RunningDispatcher::start(d))
    } else {
        None
    };
    let worker = if settings.scribe.in_serve {
        let w = crate::scribe_worker::ScribeWorker::new(store.clone(), settings.scribe.clone())?;
        Some(crate::scribe_worker::RunningWorker::start(w))
    } else {
        None
    };
    let served = app::serve(listener, AppState::new(store, settings)).await;
    if let Some(d) = dispatcher {
        d.stop().await;
    }
    if let Some(w) = worker {
        w.stop().await;
    }
    served
}

/// `hearth worker`: a scribe job worker alone, until SIGINT or SIGTERM (the job in progress
/// is finished first; a second signal is not needed, a kill loses nothing).
async fn worker(settings: Settings) -> anyhow::Result<()> {
    let store = app::open_store(&settings, OnMissing::Refuse).await?;
    let w = crate::scribe_worker::ScribeWorker::new(store.clone(), settings.scribe.clone())?;
    println!("Hearth is running scribe jobs as {}", w.id().as_str());
    let running = crate::scribe_worker::RunningWorker::start(w);
    app::shutdown_signal().await;
    running.stop().await;
    store.close().await;
    Ok(())
}

/// `hearth dispatch`: the outbox dispatcher alone, until SIGINT or SIGTERM.
async fn dispatch(settings: Settings) -> anyhow::Result<()> {
    let store = app::open_store(&settings, OnMissing::Refuse).await?;
    let d = crate::gateway::dispatcher(store.clone(), &settings)?;
    println!("Hearth is dispatching queued messages as {}", d.worker().as_str());
    let running = crate::gateway::RunningDispatcher::start(d);
    app::shutdown_signal().await;
    running.stop().await;
    store.close().await;
    Ok(())
}

/// Reads the password: the first line of stdin with `--password-stdin`, otherwise a prompt on
/// the terminal that does not echo what is typed.
fn read_password(from_stdin: bool) -> anyhow::Result<SecretString> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        rpassword::prompt_password(format!(
            "Password for the new account (at least {} characters): ",
            password::MIN_LEN
        ))
        .context("no terminal to ask for the password on; pipe it in with --password-stdin")?
    };
    if pw.is_empty() {
        bail!("no password given; type one, or pipe it in with --password-stdin");
    }
    Ok(SecretString::from(pw))
}

async fn user_add(settings: Settings, args: UserAddArgs) -> anyhow::Result<()> {
    let email = Email::parse(&args.email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let roles = args
        .roles
        .iter()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| anyhow::anyhow!("--roles {r}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pw = read_password(args.password_stdin)?;
    password::check_policy(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = password::hash(pw).await?;
    let store = app::open_store(&settings, OnMissing::Create).await?;
    let practice = match store
        .list_practices()
        .await?
        .into_iter()
        .find(|p| p.details.name == args.practice)
    {
        Some(p) => p,
        None => store
            .create_practice(&store::practice::PracticeDetails {
                name: args.practice.clone(),
                phone: None,
                time_zone: store::TimeZoneName::parse("America/New_York")
                    .expect("a valid IANA name"),
                settings: serde_json::json!({}),
            })
            .await
            .context("creating the practice")?,
    };
    let actor = store::Actor::system(practice.practice_id);
    let supervisor_id = match &args.supervisor {
        Some(s) => {
            let e =
                store::EmailAddress::parse(s).map_err(|e| anyhow::anyhow!("--supervisor: {e}"))?;
            let rec = store
                .find_login(&e)
                .await?
                .filter(|r| r.user.practice_id == practice.practice_id);
            Some(
                rec.context(
                    "--supervisor: no staff member of this practice signs in with that e-mail",
                )?
                .user
                .user_id,
            )
        }
        None => None,
    };
    let new = store::users::NewStaffUser {
        email: store::EmailAddress::parse(email.as_str())
            .map_err(|e| anyhow::anyhow!("--email: {e}"))?,
        display_name: args.name,
        roles: crate::http::users::store_roles(&roles),
        supervisor_id,
        password_hash: hash,
    };
    let user = store.create_user(&actor, &new).await.map_err(|e| match e {
        store::StoreError::Conflict { .. } => {
            anyhow::anyhow!("a staff member already signs in with {}", email)
        }
        other => anyhow::Error::new(other).context("adding the user"),
    })?;
    store.close().await;
    println!(
        "Added {} ({}) to {}. They set up two-step sign-in the first time they sign in.",
        user.display_name, email, practice.details.name
    );
    Ok(())
}
