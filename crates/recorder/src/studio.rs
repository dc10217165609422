//! One recording at a time, for an app: start, pause, resume, notes and stop on a shared handle,
//! and the events of every recording on one channel that outlives them (the desktop shell
//! forwards it to the window); and playback of one finished session's recording.

use std::time::Duration;

use hark_audio::{PlaybackStatus, Player};
use hark_store::{Interview, Note, NoteKind, SessionDetail, SessionSummary};
use serde::Serialize;
use tokio::sync::{Mutex, broadcast, watch};
use uuid::Uuid;

use crate::cloud::Cloud;
use crate::error::{RecorderError, Result};
use crate::recorder::{Recorder, RecorderEvent, Recording, StartOptions, StopSummary, Token};
use hark_cloud::{SyncEvent, SyncStatus};

/// Events kept for a slow listener before the oldest are skipped (levels arrive at 20/s/source).
const EVENT_BUFFER: usize = 1024;

/// The recording in progress, as the UI shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Active {
    /// The session being recorded.
    pub session_id: Uuid,
    /// Its interview.
    pub interview: Interview,
    /// `microphone`, and `system` when system audio is recorded too.
    pub sources: Vec<String>,
    /// When recording started (Unix ms).
    pub started_at_ms: i64,
    /// Position in the recording (ms; pauses are not counted).
    pub position_ms: i64,
    /// Whether it is paused.
    pub paused: bool,
}

/// The app's recorder with its one current recording.
#[derive(Debug)]
pub struct Studio {
    recorder: Recorder,
    cloud: Option<Cloud>,
    current: Mutex<Option<(Recording, bool)>>,
    events: broadcast::Sender<RecorderEvent>,
    /// The session being played back, if any.
    player: std::sync::Mutex<Option<(Uuid, Player)>>,
    /// Why no recording may start now (the data folder is being moved), if so.
    frozen: std::sync::Mutex<Option<String>>,
    /// Stops in progress: taken out of `current`, still finishing the file and waiting for
    /// the last transcripts. Quitting meanwhile must wait for them.
    stopping: watch::Sender<usize>,
    /// Wakes [`Studio::fill_gaps_forever`] (a recording just ended).
    gaps: tokio::sync::Notify,
}

/// Counts a stop as in progress until dropped, however the stop ends.
struct Stopping<'a>(&'a watch::Sender<usize>);

impl<'a> Stopping<'a> {
    fn begin(count: &'a watch::Sender<usize>) -> Stopping<'a> {
        count.send_modify(|n| *n += 1);
        Stopping(count)
    }
}

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Studio {
    /// A studio over `recorder`, not recording; with `cloud`, recordings use the signed-in
    /// user's token, the notice names them, and finished sessions are synced.
    pub fn new(recorder: Recorder, cloud: Option<Cloud>) -> Studio {
        Studio {
            recorder,
            cloud,
            current: Mutex::new(None),
            events: broadcast::channel(EVENT_BUFFER).0,
            player: std::sync::Mutex::new(None),
            frozen: std::sync::Mutex::new(None),
            stopping: watch::channel(0).0,
            gaps: tokio::sync::Notify::new(),
        }
    }

    /// Back-fills what live transcripts missed ([`crate::backfill`]): at once, after every
    /// recording, and again while gaps wait (offline, signed out, refused), every minute at first
    /// and at most every ten; never while recording. Announces the sessions it changed with
    /// [`RecorderEvent::Backfilled`]. Runs until the app ends.
    pub async fn fill_gaps_forever(&self) {
        const CALM: Duration = Duration::from_secs(600);
        let mut wait = Duration::from_secs(60);
        // The proxy transcribes only for interviews the organisation knows: a session that
        // just reached it (a shared local-only recording, its interview new there) may have
        // gaps that could not be transcribed before.
        let mut synced = self.cloud.as_ref().map(|cloud| cloud.sync.subscribe());
        loop {
            // A stop that woke this is still finishing: let it.
            let _ = self.stopping.subscribe().wait_for(|n| *n == 0).await;
            if !self.is_recording() {
                let token = match &self.cloud {
                    Some(cloud) => Token::Account(cloud.account.clone()),
                    None => Token::None,
                };
                // A recording starting meanwhile ends the pass between two pieces: it needs the
                // network, and the organisation's call limits, more.
                let idle = || !self.is_recording();
                match self.recorder.fill_gaps(&token, &idle).await {
                    Ok(filled) => {
                        for &session_id in &filled.sessions {
                            let _ = self.events.send(RecorderEvent::Backfilled { session_id });
                        }
                        // The lines found are queued to sync: send them now, not at the sync
                        // loop's next minute.
                        if let (false, Some(cloud)) = (filled.sessions.is_empty(), &self.cloud) {
                            cloud.sync.wake();
                        }
                        wait = if filled.stopped.is_some() || filled.left > 0 {
                            (wait * 2).min(CALM)
                        } else {
                            CALM
                        };
                    }
                    Err(err) => {
                        tracing::info!("gaps wait for back-fill: {err}");
                        wait = (wait * 2).min(CALM);
                    }
                }
            }
            let reached = async {
                match synced.as_mut() {
                    Some(events) => loop {
                        match events.recv().await {
                            // (Lagged: a `Synced` may be among those missed.)
                            Ok(SyncEvent {
                                status: SyncStatus::Synced { .. },
                                ..
                            })
                            | Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Closed) => {
                                std::future::pending::<()>().await
                            }
                        }
                    },
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.gaps.notified() => wait = Duration::from_secs(60),
                // One pass for a whole batch of sessions synced meanwhile; the back-off of a
                // pass that was stopped stays.
                _ = reached => {
                    if let Some(events) = synced.as_mut() {
                        while !matches!(events.try_recv(), Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)) {}
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Copies the data folder to `to` and points the settings file `settings` at it
    /// ([`crate::data_folder::move_folder`]); the app then restarts from there. Refused while
    /// recording. No recording may start from the moment the copy begins (a session started
    /// meanwhile would be left behind and removed with the old folder); after a failed move
    /// recording works again.
    pub async fn move_data_folder(
        &self,
        to: std::path::PathBuf,
        settings: std::path::PathBuf,
    ) -> Result<crate::data_folder::Moved> {
        self.freeze("Hark is moving its data folder and restarts when it is done")
            .await?;
        self.stop_playback();
        let from = self.recorder.config().data_dir.clone();
        let moved = tokio::task::spawn_blocking(move || {
            crate::data_folder::move_folder(&from, &to, &settings)
        })
        .await
        .unwrap_or_else(|err| {
            Err(RecorderError::Invalid(format!(
                "moving the data folder stopped unexpectedly ({err}); nothing was moved"
            )))
        });
        if moved.is_err() {
            self.thaw();
        }
        moved
    }

    /// Stops new recordings from starting, saying `why`, until [`Studio::thaw`]; refused while
    /// a recording runs.
    async fn freeze(&self, why: &str) -> Result<()> {
        let current = self.current.lock().await;
        if current.is_some() || self.is_stopping() {
            return Err(RecorderError::Invalid(
                "a recording is running: stop it first".into(),
            ));
        }
        *self.frozen.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_owned());
        Ok(())
    }

    /// Lets recordings start again after [`Studio::freeze`].
    fn thaw(&self) {
        *self.frozen.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The recorder (store, configuration).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The organisation's account and sync, unless local-only.
    pub fn cloud(&self) -> Option<&Cloud> {
        self.cloud.as_ref()
    }

    /// The library, newest first, each session saying why the account in use does not send it
    /// (recorded local-only, or for another organisation or recruiter).
    pub async fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let (project_url, user_id) = Cloud::viewer(self.cloud.as_ref()).await;
        let mut rows = self.recorder.store().call(|s| s.sessions()).await?;
        for row in &mut rows {
            row.held = row
                .session
                .destination
                .held(project_url.as_deref(), user_id);
        }
        Ok(rows)
    }

    /// One session (`id` or a unique prefix), saying why the account in use does not send it.
    pub async fn session(&self, id: String) -> Result<SessionDetail> {
        let (project_url, user_id) = Cloud::viewer(self.cloud.as_ref()).await;
        let mut detail = self.recorder.store().call(move |s| s.session(&id)).await?;
        detail.held = detail
            .session
            .destination
            .held(project_url.as_deref(), user_id);
        Ok(detail)
    }

    /// Sends a session to the signed-in recruiter's organisation because they chose to; a
    /// local-only recording is then transcribed afterwards (back-fill is woken for it).
    pub async fn share(&self, session_id: Uuid) -> Result<()> {
        let cloud = self
            .cloud
            .as_ref()
            .ok_or(RecorderError::Cloud(hark_cloud::CloudError::NotConfigured))?;
        cloud.sync.share(session_id).await?;
        self.gaps.notify_one();
        Ok(())
    }

    /// The interviews a recording can be for: local ones and the connected project's.
    pub async fn interviews(&self) -> Result<Vec<Interview>> {
        let project_url = self
            .cloud
            .as_ref()
            .map(|cloud| cloud.account.project().url.clone());
        self.recorder
            .store()
            .call(move |s| s.interviews(project_url.as_deref()))
            .await
    }

    /// Events of every recording from now on, including the last transcripts while stopping.
    pub fn subscribe(&self) -> broadcast::Receiver<RecorderEvent> {
        self.events.subscribe()
    }

    /// Starts recording; refuses while another recording runs. When signed in, the proxy gets
    /// the user's token and a confirmed notice is recorded as theirs.
    pub async fn start(&self, mut options: StartOptions) -> Result<Active> {
        let mut current = self.current.lock().await;
        if current.is_some() {
            return Err(RecorderError::Invalid(
                "a recording is already running: stop it before starting another".into(),
            ));
        }
        if let Some(why) = self
            .frozen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(RecorderError::Invalid(format!(
                "recording cannot start now: {why}"
            )));
        }
        if let Some(cloud) = &self.cloud
            && let Some(user) = cloud.account.user().await
        {
            if matches!(options.token, Token::None) {
                options.token = Token::Account(cloud.account.clone());
            }
            if let Some(consent) = options.consent.as_mut() {
                consent.by = consent.by.or(Some(user.id));
            }
        }
        // Whatever plays back now would be recorded as system audio.
        self.stop_playback();
        let recording = self.recorder.start(options).await?;
        let mut events = recording.subscribe();
        let forward = self.events.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let _ = forward.send(event);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let active = active(&recording, false);
        *current = Some((recording, false));
        Ok(active)
    }

    /// Whether a recording is in progress (or starting or stopping), without waiting: for
    /// deciding synchronously whether closing the app needs a stop first.
    pub fn is_recording(&self) -> bool {
        self.is_stopping()
            || self
                .current
                .try_lock()
                .map(|current| current.is_some())
                .unwrap_or(true)
    }

    /// Whether a stop is still saving (the file, the last transcripts).
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow() > 0
    }

    /// Stops the recording in progress, if any, and waits for every stop in progress to have
    /// saved: what quitting does first.
    pub async fn finish(&self) -> Option<Result<StopSummary>> {
        let running = self.current.lock().await.is_some();
        let stopped = if running {
            Some(self.stop().await)
        } else {
            None
        };
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|n| *n == 0).await;
        stopped
    }

    /// The recording in progress, if any.
    pub async fn active(&self) -> Option<Active> {
        let current = self.current.lock().await;
        current
            .as_ref()
            .map(|(recording, paused)| active(recording, *paused))
    }

    /// Pauses or resumes the recording in progress.
    pub async fn set_paused(&self, paused: bool) -> Result<Active> {
        let mut current = self.current.lock().await;
        let (recording, state) = current.as_mut().ok_or_else(not_recording)?;
        if paused {
            recording.pause();
        } else {
            recording.resume();
        }
        *state = paused;
        Ok(active(recording, paused))
    }

    /// Adds a note or bookmark at the current position of the recording in progress.
    pub async fn add_note(&self, kind: NoteKind, body: &str) -> Result<Note> {
        let current = self.current.lock().await;
        let (recording, _) = current.as_ref().ok_or_else(not_recording)?;
        recording.add_note(kind, body).await
    }

    /// Stops the recording in progress: the file is finished, the last transcripts are waited
    /// for (bounded) and the session is queued for sync.
    pub async fn stop(&self) -> Result<StopSummary> {
        let (taken, _stopping) = {
            let mut current = self.current.lock().await;
            // Counted before the lock is let go, so no one sees neither recording nor stopping.
            let stopping = current.is_some().then(|| Stopping::begin(&self.stopping));
            (current.take(), stopping)
        };
        let (recording, _) = taken.ok_or_else(not_recording)?;
        let summary = recording.stop().await;
        // Stopped or not, the recording is over: its gaps can be transcribed now.
        self.gaps.notify_one();
        let summary = summary?;
        if let Some(cloud) = &self.cloud {
            cloud.sync.wake();
        }
        Ok(summary)
    }
}

impl Studio {
    /// Plays a finished session's recording (every source mixed) through the default output,
    /// from `from_ms` on its timeline or from where it paused. Refused while recording: the
    /// playback would be recorded as system audio.
    pub async fn play(&self, session_id: Uuid, from_ms: Option<u64>) -> Result<PlaybackStatus> {
        if self.is_recording() {
            return Err(RecorderError::Invalid(
                "stop the recording before playing one back: Hark would record the playback as system audio".into(),
            ));
        }
        if let Some(status) = self.with_player(session_id, |player| {
            player.play(from_ms);
            player.status()
        }) {
            return Ok(status);
        }
        let detail = self
            .recorder
            .store()
            .call(move |s| s.session(&session_id.to_string()))
            .await?;
        let path = detail.session.recording_path.ok_or_else(|| {
            RecorderError::Invalid(
                "this session's audio is not on this computer (it was recorded on another one); its transcript is all there is to show here".into(),
            )
        })?;
        let path = std::path::PathBuf::from(path);
        if !path.exists() {
            return Err(RecorderError::Invalid(format!(
                "the recording {} is missing (moved or deleted outside Hark); put it back to play it — the transcript is kept either way",
                path.display()
            )));
        }
        let player = tokio::task::spawn_blocking(move || Player::open(&path))
            .await
            .map_err(|err| {
                RecorderError::Invalid(format!("opening the recording failed: {err}"))
            })??;
        player.play(from_ms);
        let status = player.status();
        *self.player_slot() = Some((session_id, player));
        Ok(status)
    }

    /// Pauses playback of `session_id`; `None` when it is not being played.
    pub fn pause_playback(&self, session_id: Uuid) -> Option<PlaybackStatus> {
        self.with_player(session_id, |player| {
            player.pause();
            player.status()
        })
    }

    /// Where playback of `session_id` is; `None` when it is not the session played.
    pub fn playback(&self, session_id: Uuid) -> Option<PlaybackStatus> {
        self.with_player(session_id, Player::status)
    }

    /// Stops any playback and lets its recording go.
    pub fn stop_playback(&self) {
        let taken = self.player_slot().take();
        drop(taken);
    }

    fn player_slot(&self) -> std::sync::MutexGuard<'_, Option<(Uuid, Player)>> {
        self.player
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_player<T>(&self, session_id: Uuid, f: impl FnOnce(&Player) -> T) -> Option<T> {
        match &*self.player_slot() {
            Some((id, player)) if *id == session_id => Some(f(player)),
            _ => None,
        }
    }
}

fn active(recording: &Recording, paused: bool) -> Active {
    Active {
        session_id: recording.session.id,
        interview: recording.interview.clone(),
        sources: recording.session.sources.clone(),
        started_at_ms: recording.session.started_at_ms,
        position_ms: recording.position_ms(),
        paused,
    }
}

fn not_recording() -> RecorderError {
    RecorderError::Invalid("nothing is being recorded: press Record first".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_audio::DeviceChoice;

    fn no_interview() -> StartOptions {
        StartOptions {
            interview: String::new(),
            microphone: DeviceChoice::Default,
            system_audio: None,
            language: None,
            prompt: None,
            token: Token::None,
            consent: None,
        }
    }

    /// A local-only studio over a fresh data folder in `home`.
    fn studio(name: &str) -> (std::path::PathBuf, Studio) {
        let home = std::env::temp_dir().join(format!("hark-studio-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let mut config = crate::Config::fallback();
        config.data_dir = home.join("data");
        (home, Studio::new(Recorder::open(config).unwrap(), None))
    }

    #[tokio::test]
    async fn no_recording_starts_once_the_data_folder_moves_and_a_failed_move_lets_it_again() {
        let (home, studio) = studio("move");
        let settings = home.join("config.toml");

        // A folder that is not empty: refused, and recording is possible again (the request
        // gets as far as its own problem, no interview named).
        let busy = home.join("busy");
        std::fs::create_dir_all(&busy).unwrap();
        std::fs::write(busy.join("x"), "").unwrap();
        let err = studio
            .move_data_folder(busy, settings.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not empty"), "{err}");
        let err = studio.start(no_interview()).await.unwrap_err().to_string();
        assert!(err.contains("name the interview"), "{err}");

        // Moved: nothing may start until the app restarts from the new folder.
        let moved = studio
            .move_data_folder(home.join("new"), settings)
            .await
            .unwrap();
        assert!(std::path::Path::new(&moved.to).join("hark.db").exists());
        let err = studio.start(no_interview()).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "recording cannot start now: Hark is moving its data folder and restarts when it is done"
        );
    }

    #[tokio::test]
    async fn while_a_stop_is_still_saving_the_studio_counts_as_recording_and_quitting_waits() {
        let (home, studio) = studio("stop");
        assert!(!studio.is_recording());
        assert!(
            studio.finish().await.is_none(),
            "nothing to stop or wait for"
        );

        // A stop has taken the recording and is saving its last transcripts.
        let saving = Stopping::begin(&studio.stopping);
        assert!(studio.is_recording() && studio.is_stopping());
        let err = studio
            .move_data_folder(home.join("new"), home.join("config.toml"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("stop it first"), "{err}");
        let quitting = studio.finish();
        tokio::pin!(quitting);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), &mut quitting)
                .await
                .is_err(),
            "quitting did not wait for the save"
        );
        drop(saving);
        let waited = tokio::time::timeout(Duration::from_secs(5), quitting).await;
        assert!(matches!(waited, Ok(None)), "{waited:?}");
        assert!(!studio.is_recording());
    }
}
