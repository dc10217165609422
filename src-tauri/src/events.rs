//! Typed events to the window: every recorder event (levels, connection state, partial and
//! final segments, warnings), forwarded as one `RecordingEvent`.

use hark_recorder::RecorderEvent;
use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tauri_specta::Event;

/// Something happened in the current recording.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct RecordingEvent(pub RecorderEvent);

/// The window was asked to close while recording: the UI asks whether to stop and quit.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct CloseRequested;

/// Forwards the studio's events to the window until the app ends.
pub fn forward<R: Runtime>(
    app: AppHandle<R>,
    mut events: tokio::sync::broadcast::Receiver<RecorderEvent>,
) {
    tauri::async_runtime::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Err(err) = RecordingEvent(event).emit(&app) {
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
