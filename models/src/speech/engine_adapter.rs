//! Runs a [`SpeechToText`] on its own engine thread ([`crate::engine::EngineHandle`]): a
//! bounded queue, an immediate `Overloaded` when full, health on a watch.
//!
//! [`SpeechEngine`] is also a [`SpeechToText`] itself (it blocks the calling thread until the
//! engine answers), so synchronous pipelines such as the scribe's take either a model or the
//! shared engine. From async code call [`SpeechEngine::transcribe`], or run the blocking form
//! inside `spawn_blocking`.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::{RunControl, SpeechToText, TranscribeOptions, Transcription, WhisperConfig, WhisperSpeech};
use crate::engine::{EngineConfig, EngineHandle};
use crate::error::Result;

/// A speech model on a dedicated thread; cheap to clone and share.
#[derive(Clone, Debug)]
pub struct SpeechEngine {
    handle: EngineHandle<Box<dyn SpeechToText>>,
}

/// Loads `config`'s Whisper model on a new engine thread named `speech` whose queue holds up
/// to `queue_capacity` waiting requests. Returns at once; await
/// `engine.handle().wait_ready()` to know the model loaded.
pub fn spawn_speech_engine(config: WhisperConfig, queue_capacity: usize) -> Result<SpeechEngine> {
    SpeechEngine::spawn(EngineConfig::new("speech", queue_capacity), move || {
        Ok(Box::new(WhisperSpeech::load(&config)?) as Box<dyn SpeechToText>)
    })
}

impl SpeechEngine {
    /// Starts an engine thread that runs `load` and then serves requests with its result.
    pub fn spawn<L>(config: EngineConfig, load: L) -> Result<Self>
    where
        L: FnOnce() -> Result<Box<dyn SpeechToText>> + Send + 'static,
    {
        Ok(Self { handle: EngineHandle::spawn(config, load)? })
    }

    /// The underlying handle (health, readiness, ping).
    pub fn handle(&self) -> &EngineHandle<Box<dyn SpeechToText>> {
        &self.handle
    }

    /// Transcribes on the engine thread. Fails at once with `Overloaded` when the queue is full.
    pub async fn transcribe(
        &self,
        samples: Vec<f32>,
        options: TranscribeOptions,
        control: RunControl,
    ) -> Result<Transcription> {
        self.handle
            .call(move |engine| engine.transcribe(&samples, &options, &control))
            .await
    }
}

impl SpeechToText for SpeechEngine {
    /// Blocks this thread until the engine answers. Do not call on an async runtime's worker.
    fn transcribe(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        control: &RunControl,
    ) -> Result<Transcription> {
        block_on(SpeechEngine::transcribe(self, samples.to_vec(), options.clone(), control.clone()))
    }
}

/// Wakes a parked thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion on this thread, parking between wake-ups. The futures it runs
/// here wait only on a oneshot filled by the engine thread, so no runtime is needed.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
