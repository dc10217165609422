//! Typed events to the window: every recorder event (levels, connection state, partial and
//! final segments, warnings) as `RecordingEvent`, every sync status change as `SyncStatusEvent`,
//! and `CloseRequested` when the window is closed while recording.

use hark_cloud::SyncEvent;
use hark_recorder::RecorderEvent;
use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tauri_specta::Event;
use tokio::sync::broadcast;

/// Something happened in the current recording.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct RecordingEvent(pub RecorderEvent);

/// A session's sync status changed (pending, syncing, synced, failed).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct SyncStatusEvent(pub SyncEvent);

/// The window was asked to close while recording: the UI asks whether to stop and quit.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct CloseRequested;

/// Forwards everything `events` carries to the window, wrapped by `wrap`, until the sender goes.
pub fn forward<R, T, E>(app: AppHandle<R>, mut events: broadcast::Receiver<T>, wrap: fn(T) -> E)
where
    R: Runtime,
    T: Clone + Send + 'static,
    E: Event + Serialize + Clone,
{
    tauri::async_runtime::spawn(async move {
        use broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Err(err) = wrap(event).emit(&app) {
                        tracing::warn!("cannot send an event to the window: {err}");
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!("the window fell behind: {skipped} events skipped");
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}
