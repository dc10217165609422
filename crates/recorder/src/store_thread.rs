//! The local store on a thread of its own: callers hand it closures and await the answer, so a
//! slow disk never blocks the audio or network path.

use std::sync::mpsc;

use hark_store::Store;

use crate::error::{RecorderError, Result};
use crate::recovery::Interrupted;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A handle to the store's thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreThread {
    jobs: mpsc::Sender<Job>,
}

impl StoreThread {
    /// Opens the store at `path` on a new thread; returns it with the sessions a crash had
    /// left recording, which are finished (as interrupted) before anything else (with
    /// `keep_gaps`, the words a crash cut off are kept for back-fill).
    pub fn open(
        path: &std::path::Path,
        keep_gaps: bool,
    ) -> Result<(StoreThread, Vec<Interrupted>)> {
        let mut store = Store::open(path)?;
        let interrupted = crate::recovery::finish_interrupted(&mut store, keep_gaps)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("hark-store".into())
            .spawn(move || {
                for job in queue {
                    job(&mut store);
                }
            })
            .map_err(|err| {
                RecorderError::Invalid(format!("cannot start the database thread: {err}"))
            })?;
        Ok((StoreThread { jobs }, interrupted))
    }

    /// Runs `f` on the store's thread and waits for it (async).
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> hark_store::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| RecorderError::StoreGone)?;
        Ok(rx.await.map_err(|_| RecorderError::StoreGone)??)
    }

    /// Runs `f` on the store's thread and waits for it (blocking; not on an async runtime).
    pub fn call_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> hark_store::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| RecorderError::StoreGone)?;
        Ok(rx.recv().map_err(|_| RecorderError::StoreGone)??)
    }
}
