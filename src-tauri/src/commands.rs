//! The commands the UI calls: each takes the shell's state, calls one recorder method and maps
//! the error. No behaviour lives here.

use hark_audio::{DeviceChoice, DeviceInfo, PlaybackStatus};
use hark_cloud::CloudError;
use hark_recorder::cloud::{LINK_TIMEOUT, SSO_TIMEOUT, open_in_browser};
use hark_recorder::config::Preferences;
use hark_recorder::export::{Format, file_name, render, render_bytes};
use hark_recorder::{AccountStatus, Active, RecorderError, StartOptions, StopSummary, Token};
use hark_store::{
    Consent, Interview, Note, NoteKind, SearchHit, Segment, SessionDetail, SessionSummary,
};
use serde::Deserialize;
use tauri::State;
use uuid::Uuid;

use crate::error::{Result, UiError};
use crate::links::OpenedLink;
use crate::state::{AppInfo, PickFolder, Regrab, Restart, SaveDialog, Shell};
use crate::updates::{UpdateCheck, Updates};
use hark_recorder::data_folder::Moved;

/// The organisation's settings, as the admin hands them out.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct Connection {
    /// The transcription proxy (`https://…/v1`).
    pub proxy_url: String,
    /// The Supabase project URL.
    pub supabase_url: String,
    /// Its anon (publishable) key.
    pub supabase_anon_key: String,
}

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
            // The studio adds the signed-in user's token and names them on the notice.
            token: Token::None,
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

/// Ends the first run (writes the settings file, every key commented out): chosen to keep
/// everything on this computer, or after signing in to an organisation configured by `HARK_*`.
#[tauri::command]
#[specta::specta]
pub async fn finish_first_run(shell: State<'_, Shell>) -> Result<AppInfo> {
    if let Some(file) = &shell.config_file {
        hark_recorder::config::create_file(file)?;
    }
    Ok(shell.info())
}

/// Settings: saves the recruiter's preferences (devices, language, vocabulary, theme).
#[tauri::command]
#[specta::specta]
pub async fn save_preferences(
    shell: State<'_, Shell>,
    preferences: Preferences,
) -> Result<AppInfo> {
    shell.save_preferences(preferences)?;
    Ok(shell.info())
}

/// Changes the global shortcuts (saved with the preferences, grabbed at once).
#[tauri::command]
#[specta::specta]
pub async fn save_shortcuts(
    shell: State<'_, Shell>,
    regrab: State<'_, Regrab>,
    record: String,
    bookmark: String,
) -> Result<AppInfo> {
    shell.save_shortcuts(&record, &bookmark, &regrab).await?;
    Ok(shell.info())
}

/// First run, or settings: connect to the organisation (saved in the settings file), then
/// restart so the app uses it. Refuses while recording.
#[tauri::command]
#[specta::specta]
pub async fn connect_organisation(
    shell: State<'_, Shell>,
    restart: State<'_, Restart>,
    connection: Connection,
) -> Result<()> {
    shell.save_connection(&connection).await?;
    (restart.0)();
    Ok(())
}

/// Asks for a folder for the sessions in the system's folder dialog; `None` when cancelled.
#[tauri::command]
#[specta::specta]
pub async fn choose_data_folder(pick: State<'_, PickFolder>) -> Result<Option<String>> {
    let pick = pick.0.clone();
    let picked =
        blocking(move || pick("Where should Hark keep sessions and recordings?")).await??;
    Ok(picked.map(|path| path.display().to_string()))
}

/// Moves the sessions, recordings and logs to `folder`, then restarts Hark from there.
/// Refuses while recording.
#[tauri::command]
#[specta::specta]
pub async fn move_data_folder(
    shell: State<'_, Shell>,
    restart: State<'_, Restart>,
    folder: String,
) -> Result<Moved> {
    let moved = shell.move_data_folder(folder).await?;
    (restart.0)();
    Ok(moved)
}

/// Asks the release feed whether a newer Hark is out.
#[tauri::command]
#[specta::specta]
pub async fn check_for_updates(updates: State<'_, Updates>) -> Result<UpdateCheck> {
    updates.check().await
}

/// Downloads the version the last check found, verifies and installs it, then restarts into
/// it. Refuses while recording.
#[tauri::command]
#[specta::specta]
pub async fn install_update(
    shell: State<'_, Shell>,
    updates: State<'_, Updates>,
    restart: State<'_, Restart>,
) -> Result<String> {
    shell.refuse_while_recording("updating restarts Hark")?;
    let version = updates.install().await?;
    (restart.0)();
    Ok(version)
}

/// The `hark://` link opened since the window last asked (it then asks the recruiter).
#[tauri::command]
#[specta::specta]
pub async fn take_link(shell: State<'_, Shell>) -> Result<Option<OpenedLink>> {
    Ok(shell.take_link())
}

/// Microphones and system-audio sources.
#[tauri::command]
#[specta::specta]
pub async fn list_devices() -> Result<Vec<DeviceInfo>> {
    Ok(blocking(hark_audio::list_devices).await??)
}

/// Interviews to pick from (the connected organisation's, and those created here).
#[tauri::command]
#[specta::specta]
pub async fn list_interviews(shell: State<'_, Shell>) -> Result<Vec<Interview>> {
    Ok(shell.studio.interviews().await?)
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

/// Whether the window shows level meters (the record screen, visible): levels are sent only then.
#[tauri::command]
#[specta::specta]
pub fn show_levels(shell: State<'_, Shell>, shown: bool) {
    shell.meters.set(shown);
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
    Ok(shell.studio.sessions().await?)
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
    Ok(shell.studio.session(id).await?)
}

/// Sends a session recorded local-only (or for another organisation or recruiter) to the
/// signed-in recruiter's organisation, because they chose to.
#[tauri::command]
#[specta::specta]
pub async fn share_session(shell: State<'_, Shell>, session_id: Uuid) -> Result<()> {
    Ok(shell.studio.share(session_id).await?)
}

/// A session rendered as Markdown, text, SRT, WebVTT or JSON.
#[tauri::command]
#[specta::specta]
pub async fn export_session(shell: State<'_, Shell>, id: String, format: Format) -> Result<String> {
    let store = shell.studio.recorder().store();
    let detail = store.call(move |s| s.session(&id)).await?;
    Ok(render(&detail, format)?)
}

/// Saves a session's export (any format, Word included) where the recruiter picks in the
/// system's save dialog; the path saved to, or `None` when they cancel.
#[tauri::command]
#[specta::specta]
pub async fn save_export(
    shell: State<'_, Shell>,
    dialog: State<'_, SaveDialog>,
    id: String,
    format: Format,
) -> Result<Option<String>> {
    let detail = shell
        .studio
        .recorder()
        .store()
        .call(move |s| s.session(&id))
        .await?;
    let bytes = render_bytes(&detail, format)?;
    let name = file_name(&detail, format);
    let ask = dialog.0.clone();
    let Some(path) = blocking(move || ask(&name, format)).await?? else {
        return Ok(None);
    };
    /// Writes `bytes` beside `path` and renames the copy over it once it is on disk, so a file
    /// already there is replaced whole or not at all (a full disk or a crash mid-write leaves
    /// it as it was); the copy is removed if anything fails.
    fn replace(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut temp = path.as_os_str().to_owned();
        temp.push(".hark-tmp");
        let temp = std::path::PathBuf::from(temp);
        let written = std::fs::File::create(&temp).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        let result = written.and_then(|()| std::fs::rename(&temp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }
    blocking(move || {
        replace(&path, &bytes)
            .map(|()| Some(path.display().to_string()))
            .map_err(|err| UiError::Invalid {
                message: format!("cannot save {}: {err}; pick another folder", path.display()),
            })
    })
    .await?
}

/// Plays a session's recording from `from_ms` (a transcript line's start), or from where it
/// paused.
#[tauri::command]
#[specta::specta]
pub async fn play_recording(
    shell: State<'_, Shell>,
    session_id: Uuid,
    from_ms: Option<u64>,
) -> Result<PlaybackStatus> {
    Ok(shell.studio.play(session_id, from_ms).await?)
}

/// Pauses playback; `None` when the session is not being played.
#[tauri::command]
#[specta::specta]
pub async fn pause_playback(
    shell: State<'_, Shell>,
    session_id: Uuid,
) -> Result<Option<PlaybackStatus>> {
    Ok(shell.studio.pause_playback(session_id))
}

/// Where playback of the session is; `None` when it is not being played.
#[tauri::command]
#[specta::specta]
pub async fn playback_status(
    shell: State<'_, Shell>,
    session_id: Uuid,
) -> Result<Option<PlaybackStatus>> {
    Ok(shell.studio.playback(session_id))
}

/// Corrects a segment's text.
#[tauri::command]
#[specta::specta]
pub async fn edit_segment(
    shell: State<'_, Shell>,
    segment_id: Uuid,
    text: String,
) -> Result<Segment> {
    let store = shell.studio.recorder().store();
    Ok(store
        .call(move |s| s.edit_segment(segment_id, &text))
        .await?)
}

/// Names a source's speaker in a session (`null` goes back to You / Candidate).
#[tauri::command]
#[specta::specta]
pub async fn rename_speaker(
    shell: State<'_, Shell>,
    session_id: Uuid,
    source: String,
    label: Option<String>,
) -> Result<u32> {
    let store = shell.studio.recorder().store();
    let changed = store
        .call(move |s| s.rename_speaker(session_id, &source, label.as_deref()))
        .await?;
    Ok(changed as u32)
}

/// Deletes a finished session here, with its recording file.
#[tauri::command]
#[specta::specta]
pub async fn delete_session(shell: State<'_, Shell>, session_id: Uuid) -> Result<()> {
    shell.studio.stop_playback();
    Ok(shell.studio.recorder().delete_session(session_id).await?)
}

/// Who is signed in to the organisation; `None` in local-only mode.
#[tauri::command]
#[specta::specta]
pub async fn account_status(shell: State<'_, Shell>) -> Result<Option<AccountStatus>> {
    Ok(match shell.studio.cloud() {
        Some(cloud) => Some(cloud.status().await),
        None => None,
    })
}

/// Signs in with email and password.
#[tauri::command]
#[specta::specta]
pub async fn sign_in_password(
    shell: State<'_, Shell>,
    email: String,
    password: String,
) -> Result<AccountStatus> {
    let cloud = shell.cloud()?;
    cloud
        .account
        .sign_in_password(&email, &password)
        .await
        .map_err(RecorderError::from)?;
    Ok(cloud.signed_in_now().await)
}

/// Emails a one-time sign-in code.
#[tauri::command]
#[specta::specta]
pub async fn send_email_code(shell: State<'_, Shell>, email: String) -> Result<()> {
    Ok(shell
        .cloud()?
        .account
        .send_email_code(&email)
        .await
        .map_err(RecorderError::from)?)
}

/// Signs in with the emailed code.
#[tauri::command]
#[specta::specta]
pub async fn verify_email_code(
    shell: State<'_, Shell>,
    email: String,
    code: String,
) -> Result<AccountStatus> {
    let cloud = shell.cloud()?;
    cloud
        .account
        .verify_email_code(&email, &code)
        .await
        .map_err(RecorderError::from)?;
    Ok(cloud.signed_in_now().await)
}

/// Emails a sign-in link and waits (up to ten minutes) for it to be opened on this computer.
#[tauri::command]
#[specta::specta]
pub async fn sign_in_email_link(shell: State<'_, Shell>, email: String) -> Result<AccountStatus> {
    let cloud = shell.cloud()?;
    cloud
        .account
        .sign_in_email_link(&email, || {}, LINK_TIMEOUT)
        .await
        .map_err(RecorderError::from)?;
    Ok(cloud.signed_in_now().await)
}

/// Single sign-on (`google`, `azure`) in the system browser.
#[tauri::command]
#[specta::specta]
pub async fn sign_in_sso(shell: State<'_, Shell>, provider: String) -> Result<AccountStatus> {
    let cloud = shell.cloud()?;
    let open =
        |url: &str| open_in_browser(url).map_err(|err| CloudError::BadConfig(err.to_string()));
    cloud
        .account
        .sign_in_sso(&provider, open, SSO_TIMEOUT)
        .await
        .map_err(RecorderError::from)?;
    Ok(cloud.signed_in_now().await)
}

/// Signs out (the sign-in is revoked and removed from the keyring).
#[tauri::command]
#[specta::specta]
pub async fn sign_out(shell: State<'_, Shell>) -> Result<AccountStatus> {
    let cloud = shell.cloud()?;
    cloud
        .account
        .sign_out()
        .await
        .map_err(RecorderError::from)?;
    Ok(cloud.status().await)
}

/// Tries every unsynced session again now, failed ones included; returns how many are this
/// account's to send.
#[tauri::command]
#[specta::specta]
pub async fn sync_now(shell: State<'_, Shell>) -> Result<u32> {
    let retried = shell.cloud()?.sync.retry_now().await;
    Ok(retried.map_err(RecorderError::from)? as u32)
}

/// A support report to copy: version, system, settings without secrets, the log's end.
#[tauri::command]
#[specta::specta]
pub async fn diagnostics(shell: State<'_, Shell>) -> Result<String> {
    Ok(shell.diagnostics().await)
}

/// Runs blocking work (device enumeration) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| UiError::Invalid {
            message: format!("{err}; try again, and report it if it repeats"),
        })
}
