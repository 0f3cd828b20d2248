//! One dedicated OS thread per engine, fed by a bounded queue.
//!
//! Inference is long, CPU-bound and often not `Send` (whisper contexts, candle caches), so it
//! must not run on the async runtime. An [`EngineHandle`] owns the sending half of a bounded
//! `std::sync::mpsc::sync_channel`; the engine thread builds the model (the model value never
//! crosses threads, so it need not be `Send`) and then runs queued jobs one at a time. Each job
//! carries a `tokio::sync::oneshot` reply and the caller's tracing span, so the engine's logs
//! nest under the request that caused them. A full queue is an immediate
//! [`Error::Overloaded`], never a wait: the HTTP layer maps it to 429/503 (the same back-pressure
//! shape as text-embeddings-inference's `core/src/queue.rs`).
//!
//! Health is published on a `tokio::sync::watch`: [`Health::Loading`] while the model loads,
//! then [`Health::Ready`] or [`Health::Failed`]. [`EngineHandle::ping`] proves the thread is
//! alive and answering by sending an empty job through the same queue.
//!
//! The handle is generic over the engine value, so text generation, embeddings and speech all
//! use it with their own synchronous trait objects (`EngineHandle<Box<dyn Embedder>>`, ...).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tracing::Instrument as _;

use crate::error::{Error, Result};

/// Where an engine is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The model is being read and prepared; requests queue up meanwhile.
    Loading,
    /// The model is loaded and the thread takes requests.
    Ready,
    /// Loading failed or the engine crashed; it will not answer again. The reason names the
    /// file or fault and carries no request content.
    Failed(String),
}

/// How an engine thread is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Short name used in thread names, logs and errors (`"embeddings"`, `"textgen"`, ...).
    pub name: String,
    /// How many requests may wait while one runs. A request beyond this is refused at once.
    pub queue_capacity: usize,
}

impl EngineConfig {
    /// Largest queue we accept: beyond this a client would wait minutes, which is worse than a
    /// clear 503.
    pub const MAX_QUEUE_CAPACITY: usize = 4096;

    /// A config with the given name and queue capacity.
    pub fn new(name: impl Into<String>, queue_capacity: usize) -> Self {
        Self {
            name: name.into(),
            queue_capacity,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::InvalidConfig(
                "an engine needs a non-empty name".into(),
            ));
        }
        if self.queue_capacity == 0 || self.queue_capacity > Self::MAX_QUEUE_CAPACITY {
            return Err(Error::InvalidConfig(format!(
                "queue capacity for the {} engine must be between 1 and {}, got {}",
                self.name,
                Self::MAX_QUEUE_CAPACITY,
                self.queue_capacity
            )));
        }
        Ok(())
    }
}

/// A unit of work run on the engine thread against the engine value.
type Job<E> = Box<dyn FnOnce(&mut E) + Send>;

/// The async side of an engine: cheap to clone, safe to share between requests.
pub struct EngineHandle<E> {
    name: String,
    capacity: usize,
    queue: SyncSender<Job<E>>,
    health: watch::Receiver<Health>,
}

impl<E> Clone for EngineHandle<E> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            capacity: self.capacity,
            queue: self.queue.clone(),
            health: self.health.clone(),
        }
    }
}

impl<E> std::fmt::Debug for EngineHandle<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("health", &*self.health.borrow())
            .finish()
    }
}

impl<E: 'static> EngineHandle<E> {
    /// Starts the engine thread. `load` runs on that thread (the engine value never moves
    /// between threads); until it returns, health is `Loading` and requests wait in the queue.
    /// Returns at once; watch [`EngineHandle::health`] or await [`EngineHandle::wait_ready`].
    pub fn spawn<L>(config: EngineConfig, load: L) -> Result<Self>
    where
        L: FnOnce() -> Result<E> + Send + 'static,
    {
        config.validate()?;
        let (queue, jobs) = sync_channel::<Job<E>>(config.queue_capacity);
        let (health_tx, health) = watch::channel(Health::Loading);
        let name = config.name.clone();
        let load_span = tracing::info_span!("engine_load", engine = %name);
        std::thread::Builder::new()
            .name(format!("engine-{name}"))
            .spawn(move || run_engine(name, load, jobs, health_tx, load_span))
            .map_err(|e| Error::io(format!("starting the {} engine thread", config.name), e))?;
        Ok(Self {
            name: config.name,
            capacity: config.queue_capacity,
            queue,
            health,
        })
    }

    /// The engine's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine's health now.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// A receiver that sees every health change (for a readiness endpoint or a startup wait).
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Waits until the model has loaded; fails with the load error if it did not.
    pub async fn wait_ready(&self) -> Result<()> {
        let mut rx = self.health.clone();
        let seen = rx
            .wait_for(|h| *h != Health::Loading)
            .await
            .map_err(|_| self.stopped())?
            .clone();
        match seen {
            Health::Ready => Ok(()),
            Health::Failed(reason) => Err(Error::EngineFailed {
                engine: self.name.clone(),
                reason,
            }),
            Health::Loading => unreachable!("wait_for returned only once health left Loading"),
        }
    }

    /// Runs `work` on the engine thread and returns its result. Refuses at once with
    /// [`Error::Overloaded`] when the queue is full. The caller's span is entered on the engine
    /// thread while `work` runs.
    pub async fn call<R, W>(&self, work: W) -> Result<R>
    where
        W: FnOnce(&mut E) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if let Health::Failed(reason) = self.health() {
            return Err(Error::EngineFailed {
                engine: self.name.clone(),
                reason,
            });
        }
        let (reply_tx, reply_rx) = oneshot::channel::<Result<R>>();
        let span = tracing::Span::current();
        let job: Job<E> = Box::new(move |engine: &mut E| {
            let _entered = span.enter();
            // The caller may have gone away (request cancelled); its answer is then dropped.
            let _ = reply_tx.send(work(engine));
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(engine = %self.name, capacity = self.capacity, "engine queue full");
                return Err(Error::Overloaded {
                    engine: self.name.clone(),
                    capacity: self.capacity,
                });
            }
            Err(TrySendError::Disconnected(_)) => return Err(self.stopped()),
        }
        reply_rx
            .instrument(tracing::debug_span!("engine_wait", engine = %self.name))
            .await
            .map_err(|_| self.stopped())?
    }

    /// Health check: the model is loaded and the thread answers an empty job through the queue
    /// within `timeout`. A full queue counts as unhealthy (`Overloaded`).
    pub async fn ping(&self, timeout: Duration) -> Result<()> {
        match self.health() {
            Health::Ready => {}
            Health::Loading => {
                return Err(Error::NotReady {
                    engine: self.name.clone(),
                });
            }
            Health::Failed(reason) => {
                return Err(Error::EngineFailed {
                    engine: self.name.clone(),
                    reason,
                });
            }
        }
        match tokio::time::timeout(timeout, self.call(|_| Ok(()))).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::PingTimeout {
                engine: self.name.clone(),
                millis: timeout.as_millis(),
            }),
        }
    }

    /// The error for a thread that is gone: its recorded failure, or a generic stop.
    fn stopped(&self) -> Error {
        let reason = match self.health() {
            Health::Failed(reason) => reason,
            _ => "the engine thread stopped".to_string(),
        };
        Error::EngineFailed {
            engine: self.name.clone(),
            reason,
        }
    }
}

/// The engine thread: load, report health, then serve jobs until every handle is dropped.
fn run_engine<E, L>(
    name: String,
    load: L,
    jobs: Receiver<Job<E>>,
    health: watch::Sender<Health>,
    load_span: tracing::Span,
) where
    L: FnOnce() -> Result<E>,
{
    let loaded = load_span.in_scope(|| catch_unwind(AssertUnwindSafe(load)));
    let mut engine = match loaded {
        Ok(Ok(engine)) => engine,
        Ok(Err(e)) => {
            tracing::error!(engine = %name, error = %e, "engine failed to load");
            health.send_replace(Health::Failed(e.to_string()));
            return;
        }
        Err(_) => {
            tracing::error!(engine = %name, "engine panicked while loading");
            health.send_replace(Health::Failed("the model loader panicked".into()));
            return;
        }
    };
    health.send_replace(Health::Ready);
    tracing::info!(engine = %name, "engine ready");
    while let Ok(job) = jobs.recv() {
        // A panic inside a model may leave it half-updated (KV caches, decoder state), so the
        // engine stops rather than serve from a corrupt state; the supervisor restarts it.
        if catch_unwind(AssertUnwindSafe(|| job(&mut engine))).is_err() {
            tracing::error!(engine = %name, "engine panicked while serving a request; stopping");
            health.send_replace(Health::Failed(
                "the engine panicked while serving a request".into(),
            ));
            return;
        }
    }
    tracing::debug!(engine = %name, "all handles dropped; engine thread ends");
}
