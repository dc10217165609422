//! The commands the UI calls: each takes the shell's state, calls one recorder method and maps
//! the error. No behaviour lives here.

use hark_audio::{DeviceChoice, DeviceInfo};
use hark_recorder::export::{Format, render};
use hark_recorder::{Active, StartOptions, StopSummary};
use hark_store::{Consent, Interview, Note, NoteKind, SearchHit, SessionDetail, SessionSummary};
use serde::Deserialize;
use tauri::State;

use crate::error::{Result, UiError};
use crate::state::{AppInfo, Shell};

/// What the record screen asks for.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct StartRequest {
    /// Interview id, or a title (a new title creates a local interview).
    pub interview: String,
    /// The microphone.
    pub microphone: DeviceChoice,
    /// System audio too, from this device.
    pub system_audio: Option<DeviceChoice>,
    /// Language hint (`en`, `de`, …).
    pub language: Option<String>,
    /// Vocabulary prompt (names, jargon).
    pub prompt: Option<String>,
    /// When the recruiter confirmed the recording notice (Unix ms).
    pub consent_confirmed_at_ms: i64,
}

impl From<StartRequest> for StartOptions {
    fn from(request: StartRequest) -> StartOptions {
        StartOptions {
            interview: request.interview,
            microphone: request.microphone,
            system_audio: request.system_audio,
            language: request.language,
            prompt: request.prompt,
            // The app has no sign-in yet: no token for the proxy, and the notice is the local
            // recruiter's.
            token: None,
            consent: Some(Consent {
                by: None,
                at_ms: request.consent_confirmed_at_ms,
            }),
        }
    }
}

/// The app's version, mode and folders.
#[tauri::command]
#[specta::specta]
pub async fn app_info(shell: State<'_, Shell>) -> Result<AppInfo> {
    Ok(shell.info())
}

/// First run: keep everything on this computer (writes the settings file).
#[tauri::command]
#[specta::specta]
pub async fn use_local_only(shell: State<'_, Shell>) -> Result<AppInfo> {
    if let Some(file) = &shell.config_file {
        hark_recorder::config::create_file(file)?;
    }
    Ok(shell.info())
}

/// Microphones and system-audio sources.
#[tauri::command]
#[specta::specta]
pub async fn list_devices() -> Result<Vec<DeviceInfo>> {
    Ok(blocking(hark_audio::list_devices).await??)
}

/// Interviews to pick from (the organisation's, and those created here).
#[tauri::command]
#[specta::specta]
pub async fn list_interviews(shell: State<'_, Shell>) -> Result<Vec<Interview>> {
    Ok(shell
        .studio
        .recorder()
        .store()
        .call(|s| s.interviews())
        .await?)
}

/// Starts recording.
#[tauri::command]
#[specta::specta]
pub async fn start_recording(shell: State<'_, Shell>, request: StartRequest) -> Result<Active> {
    Ok(shell.studio.start(request.into()).await?)
}

/// The recording in progress, if any (after a reload of the window).
#[tauri::command]
#[specta::specta]
pub async fn recording_status(shell: State<'_, Shell>) -> Result<Option<Active>> {
    Ok(shell.studio.active().await)
}

/// Pauses (`true`) or resumes (`false`).
#[tauri::command]
#[specta::specta]
pub async fn pause_recording(shell: State<'_, Shell>, paused: bool) -> Result<Active> {
    Ok(shell.studio.set_paused(paused).await?)
}

/// A bookmark or note at the current position.
#[tauri::command]
#[specta::specta]
pub async fn add_note(shell: State<'_, Shell>, kind: NoteKind, body: String) -> Result<Note> {
    Ok(shell.studio.add_note(kind, &body).await?)
}

/// Stops recording; returns once the last transcripts are stored.
#[tauri::command]
#[specta::specta]
pub async fn stop_recording(shell: State<'_, Shell>) -> Result<StopSummary> {
    Ok(shell.studio.stop().await?)
}

/// The library, newest first.
#[tauri::command]
#[specta::specta]
pub async fn list_sessions(shell: State<'_, Shell>) -> Result<Vec<SessionSummary>> {
    Ok(shell
        .studio
        .recorder()
        .store()
        .call(|s| s.sessions())
        .await?)
}

/// Full-text search over every transcript.
#[tauri::command]
#[specta::specta]
pub async fn search_transcripts(shell: State<'_, Shell>, query: String) -> Result<Vec<SearchHit>> {
    let store = shell.studio.recorder().store();
    Ok(store.call(move |s| s.search(&query, 200)).await?)
}

/// One session with its transcript and notes.
#[tauri::command]
#[specta::specta]
pub async fn session_detail(shell: State<'_, Shell>, id: String) -> Result<SessionDetail> {
    Ok(shell
        .studio
        .recorder()
        .store()
        .call(move |s| s.session(&id))
        .await?)
}

/// A session rendered as Markdown, text, SRT, WebVTT or JSON.
#[tauri::command]
#[specta::specta]
pub async fn export_session(shell: State<'_, Shell>, id: String, format: Format) -> Result<String> {
    let store = shell.studio.recorder().store();
    let detail = store.call(move |s| s.session(&id)).await?;
    Ok(render(&detail, format))
}

/// Runs blocking work (device enumeration) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| UiError::Invalid {
            message: format!("{err}; try again, and report it if it repeats"),
        })
}
