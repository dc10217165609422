//! Recording: the audio engine writes every frame to the recording file, a router hands each
//! source's Opus packets to its uplink (one realtime call per source through the proxy), the
//! transcript assembler turns the call's events into segments, and each final segment is in
//! SQLite before it is announced. No proxy, or a proxy that cannot be reached, never stops a
//! recording: it says so and keeps trying.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hark_audio::engine::{EngineConfig, Event as AudioEvent, Frame, Output, SourceSpec};
use hark_audio::{DeviceChoice, Engine, SourceKind};
use hark_realtime::{Assembler, Call, CallEvent, Dial, ItemState, TurnDetector, Update};
use hark_store::{
    Consent, Destination, Interview, NewSession, Note, NoteKind, Segment, SegmentStatus, Session,
    SessionState,
};
use hark_wire::realtime::{ClientEvent, ServerEvent, TurnMode};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::config::Config;
use crate::error::{RecorderError, Result};
use crate::recovery::{Interrupted, LiveLock};
use crate::store_thread::StoreThread;
use crate::vad::Vad;

/// Frames an uplink may fall behind before the router drops them (1 s; they stay in the file).
const UPLINK_QUEUE: usize = 50;
/// How long stopping waits for the last transcripts.
const TAIL_WAIT: Duration = Duration::from_secs(8);
/// How long stopping waits for segments a refusing store has not taken yet (a few more tries).
const SAVE_WAIT: Duration = Duration::from_secs(25);

/// What happens while recording, for the UI and the CLI.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum RecorderEvent {
    /// From the audio engine: levels, device warnings and switches.
    Audio {
        /// The engine's event.
        event: AudioEvent,
    },
    /// A source's call changed state (`connecting`, `connected`, `failed`, …).
    Connection {
        /// `microphone` or `system`.
        source: String,
        /// The state.
        state: String,
    },
    /// Audio is flowing to the transcriber.
    Live {
        /// `microphone` or `system`.
        source: String,
        /// From record pressed to the first packet sent on a connected call.
        after_ms: f64,
    },
    /// Provisional text.
    Partial {
        /// `microphone` or `system`.
        source: String,
        /// OpenAI's item id.
        item_id: String,
        /// All text so far.
        text: String,
    },
    /// A final segment, already stored.
    Final {
        /// `microphone` or `system`.
        source: String,
        /// The stored segment.
        segment: Segment,
    },
    /// A span whose transcription failed (stored, for back-fill).
    Failed {
        /// `microphone` or `system`.
        source: String,
        /// The stored segment (empty text).
        segment: Segment,
        /// Why.
        message: String,
    },
    /// Gaps of a finished session were transcribed afterwards (back-fill): its transcript
    /// changed.
    Backfilled {
        /// The session.
        session_id: Uuid,
    },
    /// Recording was paused or resumed.
    Paused {
        /// Whether it is paused now.
        paused: bool,
    },
    /// Something the user should know; recording continues.
    Warning {
        /// The source concerned, if one.
        source: Option<String>,
        /// What and what to do.
        message: String,
    },
}

/// How to record.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Interview id, or a title (a title matching none creates a local interview).
    pub interview: String,
    /// Microphone device.
    pub microphone: DeviceChoice,
    /// Also record system audio from this device.
    pub system_audio: Option<DeviceChoice>,
    /// Language hint.
    pub language: Option<String>,
    /// Vocabulary prompt.
    pub prompt: Option<String>,
    /// Where the proxy's access token comes from (none for a `--dev` proxy).
    pub token: Token,
    /// The recording notice, if it was confirmed (kept with the session).
    pub consent: Option<Consent>,
}

/// Where a recording's calls get the access token the proxy checks.
#[derive(Debug, Clone, Default)]
pub enum Token {
    /// None: a `--dev` proxy admits calls without one.
    #[default]
    None,
    /// This token as given (`HARK_ACCESS_TOKEN`).
    Fixed(String),
    /// The signed-in account's, asked for at every dial and refreshed when about to expire:
    /// access tokens live an hour, and a long interview's calls are redialled after that
    /// (the proxy's maximum call length, a lost network).
    Account(Arc<hark_cloud::Account>),
}

impl Token {
    /// The token for the next dial; the account's error when it cannot give one.
    pub(crate) async fn get(&self) -> std::result::Result<Option<String>, hark_cloud::CloudError> {
        match self {
            Token::None => Ok(None),
            Token::Fixed(token) => Ok(Some(token.clone())),
            Token::Account(account) => account.access_token().await.map(Some),
        }
    }
}

/// The recorder: configuration and the local store.
#[derive(Debug, Clone)]
pub struct Recorder {
    config: Config,
    store: StoreThread,
    interrupted: Vec<Interrupted>,
}

impl Recorder {
    /// Opens the local store in the configured data folder (and, when the folder was just moved
    /// here, removes the old folder's files).
    pub fn open(config: Config) -> Result<Recorder> {
        let (store, interrupted) =
            StoreThread::open(&config.database(), config.proxy_url.is_some())?;
        crate::data_folder::finish_move(&config.data_dir);
        Ok(Recorder {
            config,
            store,
            interrupted,
        })
    }

    /// The sessions a crash had cut short, found (and finished) when this recorder opened.
    pub fn interrupted(&self) -> &[Interrupted] {
        &self.interrupted
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store's thread.
    pub fn store(&self) -> &StoreThread {
        &self.store
    }

    /// Transcribes through the proxy what live transcripts missed in finished recordings
    /// ([`crate::backfill`]), while `keep_going` says so; nothing to do without a proxy.
    pub async fn fill_gaps(
        &self,
        token: &Token,
        keep_going: &(dyn Fn() -> bool + Sync),
    ) -> Result<crate::backfill::Filled> {
        match &self.config.proxy_url {
            Some(proxy_url) => {
                crate::backfill::fill_gaps(&self.store, proxy_url, token, keep_going).await
            }
            None => Ok(crate::backfill::Filled::default()),
        }
    }

    /// Where a session recorded now syncs: the configured organisation's project, as whoever
    /// is signed in (or whose sign-in the keyring keeps; taken by the first to send it when
    /// there is none), or nowhere unless the recruiter chooses, in local-only mode.
    async fn destination(&self, token: &Token) -> Destination {
        let owner = match token {
            Token::Account(account) => account.owner().await,
            _ => None,
        };
        match self.project_url(token) {
            Some(project_url) => Destination::Organisation {
                project_url: Some(project_url),
                user_id: owner.as_ref().map(|owner| owner.user_id),
                email: owner.and_then(|owner| owner.email),
            },
            None => Destination::LocalOnly,
        }
    }

    /// The project a session recorded now with `token` is for: the signed-in account's, else
    /// the configured one (none: local-only).
    fn project_url(&self, token: &Token) -> Option<String> {
        match token {
            Token::Account(account) => Some(account.project().url.clone()),
            _ => crate::cloud::Cloud::project_url(&self.config),
        }
    }

    /// The interview with this id or title, creating a local one for a new title (an id
    /// nothing has is not a title: it is not found); only the interviews of the project
    /// recorded for with `token` (and local ones) can be chosen.
    async fn interview_for(&self, id_or_title: &str, token: &Token) -> Result<Interview> {
        let wanted = id_or_title.trim().to_string();
        if wanted.is_empty() {
            return Err(RecorderError::Invalid(
                "name the interview: `--interview \"Backend engineer – Ada\"` (an id or a title)"
                    .into(),
            ));
        }
        let project_url = self.project_url(token);
        self.store
            .call(
                move |store| match store.find_interview(&wanted, project_url.as_deref())? {
                    Some(found) => Ok(found),
                    None if Uuid::parse_str(&wanted).is_ok() => {
                        Err(hark_store::StoreError::NotFound {
                            what: "interview",
                            id: wanted,
                        })
                    }
                    None => store.create_interview(&wanted, None),
                },
            )
            .await
    }

    /// Deletes a finished session here: its transcript, notes and recording file. The
    /// organisation's copy, if it was synced, stays.
    pub async fn delete_session(&self, id: Uuid) -> Result<()> {
        let path = self.store.call(move |s| s.delete_session(id)).await?;
        if let Some(path) = path {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(RecorderError::Invalid(format!(
                        "the session is deleted but its recording {path} could not be removed ({err}); delete the file by hand"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Starts recording. Fails only if no audio can be recorded at all.
    pub async fn start(&self, options: StartOptions) -> Result<Recording> {
        let pressed = Instant::now();
        let interview = self
            .interview_for(&options.interview, &options.token)
            .await?;
        let mut specs = vec![SourceSpec {
            label: "microphone".into(),
            kind: SourceKind::Microphone,
            device: options.microphone.clone(),
        }];
        if let Some(device) = &options.system_audio {
            specs.push(SourceSpec {
                label: "system".into(),
                kind: SourceKind::System,
                device: device.clone(),
            });
        }
        let session_id = Uuid::new_v4();
        let recordings = self.config.recordings_dir();
        std::fs::create_dir_all(&recordings).map_err(|err| {
            RecorderError::Config(format!(
                "cannot create the recordings folder {}: {err}; check that its drive is connected and writable, or choose another data folder (in the app's Settings, or with HARK_DATA_DIR)",
                recordings.display()
            ))
        })?;
        let file = recordings.join(format!("{session_id}.ogg"));
        // Held from before the session exists until it is finished: `hark` or the app opening
        // this folder meanwhile leaves the session to this recorder instead of "repairing" it.
        let live = LiveLock::try_take(&file)?.ok_or_else(|| {
            RecorderError::Invalid(format!("{} is already being recorded", file.display()))
        })?;

        let (events, first) = broadcast::channel(1024);
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in &specs {
            let (tx, rx) = mpsc::channel(UPLINK_QUEUE);
            senders.push(tx);
            receivers.push(rx);
        }
        // Calls start connecting while the devices open: neither waits for the other.
        let (stop_tx, stop_rx) = watch::channel(false);
        let (hints_tx, hints_rx) = watch::channel(Hints {
            language: options.language.clone(),
            prompt: options.prompt.clone(),
        });
        let mut uplinks = Vec::new();
        let (saves, saved) = mpsc::unbounded_channel();
        let manual: Vec<Arc<AtomicBool>> = specs.iter().map(|_| Arc::default()).collect();
        let produced: Vec<Arc<AtomicU64>> = specs.iter().map(|_| Arc::default()).collect();
        for (((spec, frames_rx), manual), produced) in
            specs.iter().zip(receivers).zip(&manual).zip(&produced)
        {
            let ctx = Uplink {
                manual: manual.clone(),
                produced: produced.clone(),
                source: spec.label.clone(),
                session_id,
                interview_id: interview.id,
                proxy_url: self.config.proxy_url.clone(),
                options: options.clone(),
                events: events.clone(),
                pressed,
                saves: saves.clone(),
                coverage: Default::default(),
            };
            uplinks.push(tokio::spawn(ctx.run(
                frames_rx,
                stop_rx.clone(),
                hints_rx.clone(),
            )));
        }
        // Ends once every uplink has (each holds a sender) and what they handed over is saved.
        drop(saves);
        let saver = tokio::spawn(save_in_order(self.store.clone(), events.clone(), saved));
        let frames = Arc::new(AtomicU64::new(0));
        let router = Arc::new(Router {
            vads: senders
                .iter()
                .map(|_| std::sync::Mutex::new(Vad::default()))
                .collect(),
            uplinks: senders,
            manual,
            produced,
            events: events.clone(),
            frames: frames.clone(),
        });
        let config = EngineConfig::new(specs.clone(), file.clone());
        let engine = match tokio::task::spawn_blocking(move || Engine::start(config, router)).await
        {
            Ok(Ok(engine)) => engine,
            Ok(Err(err)) => {
                let _ = stop_tx.send(true);
                return Err(err.into());
            }
            Err(err) => {
                let _ = stop_tx.send(true);
                return Err(RecorderError::Invalid(format!(
                    "audio start panicked: {err}"
                )));
            }
        };

        let new = NewSession {
            id: Some(session_id),
            interview_id: interview.id,
            sources: specs.iter().map(|s| s.label.clone()).collect(),
            language: options.language.clone(),
            prompt: options.prompt.clone(),
            recording_path: Some(file.display().to_string()),
            consent: options.consent,
            destination: self.destination(&options.token).await,
            live_transcript: Some(self.config.proxy_url.is_some()),
            ..NewSession::default()
        };
        let session = self
            .store
            .call(move |store| store.start_session(&new))
            .await?;
        if self.config.proxy_url.is_none() {
            let _ = events.send(RecorderEvent::Warning {
                source: None,
                message: "no transcription service is configured, so there is no live \
                          transcript; the recording is kept on this computer (connect to your \
                          organisation, or set proxy_url in the settings file)"
                    .into(),
            });
        }
        Ok(Recording {
            session,
            interview,
            engine: Some(engine),
            uplinks,
            events,
            store: self.store.clone(),
            stop: stop_tx,
            hints: hints_tx,
            frames,
            _live: live,
            first: std::sync::Mutex::new(Some(first)),
            saver: Some(saver),
        })
    }
}

/// The audio engine's output: packets to each source's uplink, events to subscribers.
struct Router {
    uplinks: Vec<mpsc::Sender<Packet>>,
    vads: Vec<std::sync::Mutex<Vad>>,
    /// Per source: how many frames it has produced (its uplink's queue may have dropped some).
    produced: Vec<Arc<AtomicU64>>,
    /// Per source: whether its call is in manual turn mode (set by its uplink).
    manual: Vec<Arc<AtomicBool>>,
    events: broadcast::Sender<RecorderEvent>,
    frames: Arc<AtomicU64>,
}

impl Output for Router {
    fn frame(&self, frame: &Frame<'_>) {
        if frame.source == 0 {
            self.frames.store(frame.index + 1, Ordering::Relaxed);
        }
        if let Some(produced) = self.produced.get(frame.source) {
            produced.store(frame.index + 1, Ordering::Relaxed);
        }
        // Voice activity only matters while the source's call takes manual turns.
        let voiced = self
            .manual
            .get(frame.source)
            .is_some_and(|m| m.load(Ordering::Relaxed))
            && self
                .vads
                .get(frame.source)
                .and_then(|vad| vad.lock().ok().map(|mut vad| vad.voiced(frame.pcm)))
                .unwrap_or(false);
        if let Some(uplink) = self.uplinks.get(frame.source) {
            // A full or closed queue only costs the live transcript; the file has the frame.
            let _ = uplink.try_send(Packet {
                index: frame.index,
                opus: frame.packet.data.clone(),
                voiced,
            });
        }
    }

    fn event(&self, event: AudioEvent) {
        let _ = self.events.send(RecorderEvent::Audio { event });
    }
}

/// One frame for an uplink.
#[derive(Debug)]
struct Packet {
    /// Frame number on the recording's timeline.
    index: u64,
    /// The Opus packet.
    opus: Vec<u8>,
    /// Whether the frame holds voice (for manual turn mode).
    voiced: bool,
}

/// What stopping reports.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StopSummary {
    /// The session.
    pub session_id: Uuid,
    /// Seconds recorded.
    pub seconds: f64,
    /// Final segments stored.
    pub segments: usize,
    /// How much of the recording the live transcript missed (its gaps, which back-fill
    /// transcribes afterwards), ms.
    pub missed_ms: i64,
    /// Where the recording file is.
    pub recording: Option<String>,
}

/// A recording in progress.
#[derive(Debug)]
pub struct Recording {
    /// The session row.
    pub session: Session,
    /// Its interview.
    pub interview: Interview,
    engine: Option<Engine>,
    uplinks: Vec<tokio::task::JoinHandle<()>>,
    events: broadcast::Sender<RecorderEvent>,
    store: StoreThread,
    stop: watch::Sender<bool>,
    hints: watch::Sender<Hints>,
    frames: Arc<AtomicU64>,
    /// Marks the session as recorded by a live process until the recording is dropped.
    _live: LiveLock,
    /// Subscribed as the recording began, for its first subscriber ([`Recording::subscribe`]).
    first: std::sync::Mutex<Option<broadcast::Receiver<RecorderEvent>>>,
    /// Saves the uplinks' segments in order ([`save_in_order`]); waited for at stop.
    saver: Option<tokio::task::JoinHandle<()>>,
}

/// Language and vocabulary hints for the transcriber.
#[derive(Debug, Clone, PartialEq)]
struct Hints {
    language: Option<String>,
    prompt: Option<String>,
}

impl Recording {
    /// Changes the language hint and vocabulary prompt mid-session (`session.update` on every
    /// live call; calls set up later use them from the start).
    pub fn set_hints(&self, language: Option<String>, prompt: Option<String>) {
        self.hints.send_replace(Hints { language, prompt });
    }

    /// Events: the first subscriber gets every event since the recording began (a device
    /// standing in for an unplugged one, a missing proxy), later ones those from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RecorderEvent> {
        self.first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| self.events.subscribe())
    }

    /// Pauses: nothing is recorded or transcribed until [`Recording::resume`]; devices and
    /// calls stay open so resuming is instant.
    pub fn pause(&self) {
        self.set_paused(true);
    }

    /// Resumes after [`Recording::pause`].
    pub fn resume(&self) {
        self.set_paused(false);
    }

    fn set_paused(&self, paused: bool) {
        if let Some(engine) = &self.engine {
            engine.set_paused(paused);
            let _ = self.events.send(RecorderEvent::Paused { paused });
        }
    }

    /// Position in the recording (ms).
    pub fn position_ms(&self) -> i64 {
        self.frames.load(Ordering::Relaxed) as i64 * 20
    }

    /// Adds a note or bookmark at the current position.
    pub async fn add_note(&self, kind: NoteKind, body: &str) -> Result<Note> {
        let (id, at, body) = (self.session.id, self.position_ms(), body.to_string());
        self.store
            .call(move |store| store.add_note(id, kind, at, &body))
            .await
    }

    /// Stops: the file is finished, each call commits its tail, waits (bounded) for the last
    /// transcripts and hangs up; the session is closed and queued for sync.
    pub async fn stop(mut self) -> Result<StopSummary> {
        let engine = self.engine.take();
        let stats = match engine {
            Some(engine) => tokio::task::spawn_blocking(move || engine.stop())
                .await
                .map_err(|err| RecorderError::Invalid(format!("audio stop panicked: {err}")))?,
            None => Ok(Vec::new()),
        };
        let _ = self.stop.send(true);
        for uplink in self.uplinks.drain(..) {
            let _ = tokio::time::timeout(TAIL_WAIT + Duration::from_secs(4), uplink).await;
        }
        if let Some(saver) = self.saver.take() {
            let _ = tokio::time::timeout(SAVE_WAIT, saver).await;
        }
        let seconds = stats
            .as_ref()
            .ok()
            .and_then(|s| s.first())
            .map(|s| s.frames as f64 * 0.02)
            .unwrap_or(self.position_ms() as f64 / 1000.0);
        let state = if stats.is_ok() {
            SessionState::Completed
        } else {
            SessionState::Interrupted
        };
        let id = self.session.id;
        let detail = self
            .store
            .call(move |store| {
                store.finish_session(id, seconds, state)?;
                store.session(&id.to_string())
            })
            .await?;
        stats?;
        Ok(StopSummary {
            session_id: id,
            seconds,
            segments: detail
                .segments
                .iter()
                .filter(|s| s.status != SegmentStatus::Failed)
                .count(),
            missed_ms: missed_ms(&detail.segments),
            recording: detail.session.recording_path,
        })
    }
}

/// One source's path to the transcriber.
struct Uplink {
    source: String,
    session_id: Uuid,
    interview_id: Uuid,
    proxy_url: Option<String>,
    options: StartOptions,
    events: broadcast::Sender<RecorderEvent>,
    pressed: Instant,
    /// Whether the call in progress takes manual turns (the audio side then runs its VAD).
    manual: Arc<AtomicBool>,
    /// How many frames the source has produced, queued to this uplink or not.
    produced: Arc<AtomicU64>,
    /// Final and failed segments to save, in order, by the recording's saver ([`save_in_order`]).
    saves: mpsc::UnboundedSender<(Segment, Option<RecorderEvent>)>,
    /// What of the recording the live transcript has covered, to keep what it missed as gaps.
    coverage: std::sync::Mutex<Coverage>,
}

/// One uplink's account of the live transcript's reach on the recording's timeline (ms): audio
/// it never sent, or sent on a call that was lost or did not finish its transcript in time, is
/// kept as a gap (a `failed` segment with its span), which back-fill transcribes afterwards.
#[derive(Debug, Default)]
struct Coverage {
    /// Audio not transcribed live and not yet kept as gaps: spans in order, apart (an
    /// utterance transcribed live between two missed ones is not sent again).
    missed: Vec<(i64, i64)>,
    /// End of the last frame sent to a call.
    sent_to: i64,
    /// End of the last frame this uplink received (sent or not): frames after it that never
    /// arrive were dropped on the way (a full queue while dialling).
    handled_to: i64,
    /// Start of the first frame sent on the call in progress.
    call_from: Option<i64>,
}

impl Coverage {
    /// A frame starting at `start_ms` arrived: any frames skipped before it are missed.
    fn arrived(&mut self, start_ms: i64) {
        if start_ms > self.handled_to {
            self.miss(self.handled_to, start_ms);
        }
        self.handled_to = self.handled_to.max(start_ms + 20);
    }

    fn miss(&mut self, start_ms: i64, end_ms: i64) {
        if end_ms <= start_ms {
            return;
        }
        // Merged with the spans it overlaps or touches; the rest stay apart.
        let (mut from, mut to) = (start_ms, end_ms);
        self.missed.retain(|&(a, b)| {
            let apart = b < from || a > to;
            if !apart {
                from = from.min(a);
                to = to.max(b);
            }
            apart
        });
        let at = self.missed.partition_point(|&(a, _)| a < from);
        self.missed.insert(at, (from, to));
    }

    /// The call in progress ended before transcribing all it was sent: the utterances it left
    /// unfinished, and whatever came after the last one it placed, are missed.
    fn call_cut_short(&mut self, assembler: Option<&Assembler>) {
        let Some(from) = self.call_from.take() else {
            return;
        };
        let mut placed_to = from;
        for item in assembler.map(Assembler::items).unwrap_or_default() {
            if let (Some(start), Some(end)) = (item.start_ms, item.end_ms) {
                placed_to = placed_to.max(end);
                if item.state == ItemState::Partial {
                    self.miss(start, end);
                }
            }
        }
        self.miss(placed_to, self.sent_to);
    }
}

/// Saves segments in the order the uplinks hand them over, announcing each once stored (a
/// segment is in SQLite before it shows as final). A store that refuses for now (busy, a full
/// disk) is tried again after a pause, later segments waiting behind it, while the uplinks go on
/// transcribing: waiting for the store in an uplink would drop the audio meanwhile. Once the
/// uplinks are done, a store still refusing after a few more tries is given up, saying so.
async fn save_in_order(
    store: StoreThread,
    events: broadcast::Sender<RecorderEvent>,
    mut queue: mpsc::UnboundedReceiver<(Segment, Option<RecorderEvent>)>,
) {
    let warn = |source: &str, message: String| {
        tracing::warn!(%source, "{message}");
        let _ = events.send(RecorderEvent::Warning {
            source: Some(source.to_owned()),
            message,
        });
    };
    while let Some((segment, event)) = queue.recv().await {
        let mut pause = Duration::from_secs(1);
        let mut tries_after_the_end = 0;
        loop {
            let stored = segment.clone();
            match store.call(move |store| store.save_segment(&stored)).await {
                Ok(()) => {
                    if let Some(event) = event {
                        let _ = events.send(event);
                    }
                    break;
                }
                Err(RecorderError::Store(err @ hark_store::StoreError::Invalid { .. })) => {
                    warn(
                        &segment.source,
                        format!("a transcript segment could not be saved: {err}"),
                    );
                    break;
                }
                Err(err) if queue.is_closed() && tries_after_the_end >= 3 => {
                    let lost = 1 + queue.len();
                    warn(
                        &segment.source,
                        format!(
                            "{lost} transcript segments could not be saved ({err}); the audio is in the recording"
                        ),
                    );
                    return;
                }
                Err(err) => {
                    warn(
                        &segment.source,
                        format!(
                            "a transcript segment could not be saved yet ({err}); it is kept and saved again in {} s",
                            pause.as_secs()
                        ),
                    );
                    if queue.is_closed() {
                        tries_after_the_end += 1;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
            }
        }
    }
}

impl Uplink {
    /// Hands `segment` to the recording's saver, which stores it and then sends `event`.
    fn save_then_announce(&self, segment: Segment, event: RecorderEvent) {
        let _ = self.saves.send((segment, Some(event)));
    }

    fn coverage(&self) -> std::sync::MutexGuard<'_, Coverage> {
        self.coverage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A frame (packet `index`) that never reached a transcriber.
    fn dropped(&self, index: u64) {
        let start = index as i64 * 20;
        let mut coverage = self.coverage();
        coverage.arrived(start);
        coverage.miss(start, start + 20);
    }

    /// A frame (packet `index`) sent to the call in progress: a gap before it is complete.
    fn sent(&self, index: u64) {
        let start = index as i64 * 20;
        let mut coverage = self.coverage();
        coverage.arrived(start);
        coverage.call_from.get_or_insert(start);
        coverage.sent_to = coverage.sent_to.max(start + 20);
        let gaps = std::mem::take(&mut coverage.missed);
        drop(coverage);
        for gap in gaps {
            self.keep_gap(gap);
        }
    }

    /// Keeps the audio of `start_ms..end_ms`, which the live transcript missed, as a gap. It
    /// is not a line of the live transcript (the warnings said the transcript was offline, and
    /// the gap may hold only silence, such as the moments before a call connects); the saved
    /// session shows it until back-fill replaces it.
    fn keep_gap(&self, (start_ms, end_ms): (i64, i64)) {
        let segment = Segment::gap(self.session_id, &self.source, start_ms, end_ms);
        let _ = self.saves.send((segment, None));
    }

    /// Keeps what the live transcript missed up to now as a gap (the recording is ending).
    fn keep_missed(&self) {
        let gaps = std::mem::take(&mut self.coverage().missed);
        for gap in gaps {
            self.keep_gap(gap);
        }
    }

    fn warn(&self, message: String) {
        tracing::warn!(source = %self.source, "{message}");
        let _ = self.events.send(RecorderEvent::Warning {
            source: Some(self.source.clone()),
            message,
        });
    }

    fn state(&self, state: &str) {
        let _ = self.events.send(RecorderEvent::Connection {
            source: self.source.clone(),
            state: state.into(),
        });
    }

    /// Calls the transcriber through the proxy until the recording stops, redialling; then
    /// keeps what it missed as a gap.
    async fn run(
        self,
        frames: mpsc::Receiver<Packet>,
        stop: watch::Receiver<bool>,
        hints: watch::Receiver<Hints>,
    ) {
        let mut frames = frames;
        self.call_until_stopped(&mut frames, stop, hints).await;
        if self.proxy_url.is_none() {
            // Local only: no transcript was ever due.
            return;
        }
        // The engine has stopped: frames still queued (a stop while dialling or offline) were
        // never sent.
        while let Ok(packet) = frames.try_recv() {
            self.dropped(packet.index);
        }
        // Frames a full queue dropped after the last one received.
        let produced = self.produced.load(Ordering::Relaxed) as i64 * 20;
        self.coverage().arrived(produced);
        self.keep_missed();
    }

    async fn call_until_stopped(
        &self,
        frames: &mut mpsc::Receiver<Packet>,
        mut stop: watch::Receiver<bool>,
        mut hints: watch::Receiver<Hints>,
    ) {
        let Some(proxy_url) = self.proxy_url.clone() else {
            // Local only: keep the queue empty until the end.
            while frames.recv().await.is_some() {}
            return;
        };
        let mut backoff = Duration::from_secs(1);
        let mut live_reported = false;
        loop {
            if *stop.borrow() {
                return;
            }
            self.state("connecting");
            let token = tokio::select! {
                token = self.options.token.get() => token,
                _ = stop.changed() => return,
            };
            let token = match token {
                Ok(token) => token,
                Err(err) => {
                    let wait = backoff;
                    if !self
                        .offline_for(err.to_string(), wait, frames, &mut stop, &mut backoff)
                        .await
                    {
                        return;
                    }
                    continue;
                }
            };
            let current = hints.borrow_and_update().clone();
            let dial = Dial {
                proxy_url: proxy_url.clone(),
                token,
                interview_id: self.interview_id,
                source: self.source.clone(),
                language: current.language,
                prompt: current.prompt,
                bind: "0.0.0.0:0".into(),
            };
            let connected = tokio::select! {
                connected = Call::connect(dial) => connected,
                _ = stop.changed() => return,
            };
            let (call, mut call_events) = match connected {
                Ok(call) => call,
                Err(err) => {
                    let retry = match &err {
                        hark_realtime::RealtimeError::Refused {
                            retry_after: Some(s),
                            ..
                        } => Duration::from_secs(*s),
                        _ => backoff,
                    };
                    if !self
                        .offline_for(err.to_string(), retry, frames, &mut stop, &mut backoff)
                        .await
                    {
                        return;
                    }
                    continue;
                }
            };
            backoff = Duration::from_secs(1);
            let ended = self
                .serve(
                    &call,
                    &mut call_events,
                    frames,
                    &mut stop,
                    &mut hints,
                    &mut live_reported,
                )
                .await;
            let _ = call.hang_up().await;
            match ended {
                Ended::Stopped | Ended::Unfinished => {
                    self.state("closed");
                    return;
                }
                Ended::Lost(why) => {
                    self.warn(format!(
                        "the live transcript of the {} stopped ({why}); recording continues, reconnecting",
                        self.source
                    ));
                    self.state("offline");
                }
            }
        }
    }

    /// Says there is no live transcript for now and why, waits `wait` (discarding queued
    /// frames: they are in the file) and doubles the back-off. False when stopping.
    async fn offline_for(
        &self,
        why: String,
        wait: Duration,
        frames: &mut mpsc::Receiver<Packet>,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> bool {
        self.warn(format!(
            "no live transcript for the {}: {why}; recording continues, retrying in {} s",
            self.source,
            wait.as_secs()
        ));
        self.state("offline");
        if !self.wait_draining(frames, stop, wait).await {
            return false;
        }
        *backoff = (*backoff * 2).min(Duration::from_secs(30));
        true
    }

    /// Waits `how_long` (or until stop), discarding queued frames. False when stopping.
    async fn wait_draining(
        &self,
        frames: &mut mpsc::Receiver<Packet>,
        stop: &mut watch::Receiver<bool>,
        how_long: Duration,
    ) -> bool {
        let deadline = tokio::time::sleep(how_long);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return true,
                _ = stop.changed() => return false,
                frame = frames.recv() => match frame {
                    Some(packet) => self.dropped(packet.index),
                    None => return false,
                },
            }
        }
    }

    /// Streams to `call` and turns its events into segments until the recording stops or the
    /// call is lost; what the call was sent but did not transcribe is then kept as a gap.
    async fn serve(
        &self,
        call: &Call,
        call_events: &mut mpsc::UnboundedReceiver<CallEvent>,
        frames: &mut mpsc::Receiver<Packet>,
        stop: &mut watch::Receiver<bool>,
        hints: &mut watch::Receiver<Hints>,
        live_reported: &mut bool,
    ) -> Ended {
        let mut assembler = None;
        let ended = self
            .stream(
                call,
                call_events,
                frames,
                stop,
                hints,
                live_reported,
                &mut assembler,
            )
            .await;
        let mut coverage = self.coverage();
        match ended {
            Ended::Stopped => {
                coverage.call_from = None;
            }
            Ended::Unfinished | Ended::Lost(_) => coverage.call_cut_short(assembler.as_ref()),
        }
        ended
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        call: &Call,
        call_events: &mut mpsc::UnboundedReceiver<CallEvent>,
        frames: &mut mpsc::Receiver<Packet>,
        stop: &mut watch::Receiver<bool>,
        hints: &mut watch::Receiver<Hints>,
        live_reported: &mut bool,
        assembler: &mut Option<Assembler>,
    ) -> Ended {
        // Audio sent before the connection is up is lost: wait for it, dropping queued frames
        // (they are in the file).
        let connect_deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(connect_deadline);
        loop {
            tokio::select! {
                _ = &mut connect_deadline => return Ended::Lost("the connection did not come up within 10 s".into()),
                _ = stop.changed() => return Ended::Stopped,
                frame = frames.recv() => match frame {
                    Some(packet) => self.dropped(packet.index),
                    // The engine stopped before the call came up: nothing more to transcribe.
                    None => return Ended::Stopped,
                },
                event = call_events.recv() => match event {
                    Some(CallEvent::Connection(RTCPeerConnectionState::Connected)) => break,
                    Some(CallEvent::Connection(state @ (RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed | RTCPeerConnectionState::Disconnected))) => {
                        return Ended::Lost(connection_lost(state));
                    }
                    // Nothing before the connection carries transcript.
                    Some(_) => {}
                    None => return Ended::Lost("the call went away".into()),
                },
            }
        }
        self.state("connected");
        let mut stopping = false;
        let mut tail_acknowledged = false;
        // Models without server VAD need the client to say where utterances end.
        let mut turns =
            (call.session.turn_detection == TurnMode::Manual).then(TurnDetector::default);
        self.manual.store(turns.is_some(), Ordering::Relaxed);
        let tail_deadline = tokio::time::sleep(Duration::from_secs(3600 * 24));
        tokio::pin!(tail_deadline);
        loop {
            tokio::select! {
                frame = frames.recv(), if !stopping => match frame {
                    Some(packet) => {
                        // The transcriber's time 0 is the first frame it receives.
                        let assembler = assembler.get_or_insert_with(|| Assembler::new(packet.index as i64 * 20));
                        let sent = call.send_audio(&packet.opus).await.is_ok();
                        if sent { self.sent(packet.index) } else { self.dropped(packet.index) }
                        // Manual turn mode: commit each utterance our own VAD finds.
                        if let Some(turns) = turns.as_mut()
                            && let Some((start, end)) = turns.push(packet.index as i64 * 20, packet.voiced)
                        {
                            assembler.expect_commit(start, end);
                            let _ = call.commit().await;
                        }
                        if sent && !*live_reported {
                            *live_reported = true;
                            let _ = self.events.send(RecorderEvent::Live {
                                source: self.source.clone(),
                                after_ms: self.pressed.elapsed().as_secs_f64() * 1000.0,
                            });
                        }
                    }
                    None => {
                        // The engine stopped: commit the tail and wait for the last words.
                        stopping = true;
                        tail_acknowledged = !self.commit_tail(call, &mut turns, assembler.as_mut()).await;
                        if tail_acknowledged && assembler.as_ref().is_none_or(|a| a.unfinished() == 0) {
                            return Ended::Stopped;
                        }
                        tail_deadline.as_mut().reset(tokio::time::Instant::now() + TAIL_WAIT);
                    }
                },
                _ = stop.changed(), if !stopping => {
                    // Frames still queued belong to the tail.
                    while let Ok(packet) = frames.try_recv() {
                        if call.send_audio(&packet.opus).await.is_ok() {
                            self.sent(packet.index);
                        } else {
                            self.dropped(packet.index);
                        }
                        if let (Some(turns), Some(assembler)) = (turns.as_mut(), assembler.as_mut())
                            && let Some((start, end)) = turns.push(packet.index as i64 * 20, packet.voiced)
                        {
                            assembler.expect_commit(start, end);
                            let _ = call.commit().await;
                        }
                    }
                    stopping = true;
                    tail_acknowledged = !self.commit_tail(call, &mut turns, assembler.as_mut()).await;
                    if tail_acknowledged && assembler.as_ref().is_none_or(|a| a.unfinished() == 0) {
                        return Ended::Stopped;
                    }
                    tail_deadline.as_mut().reset(tokio::time::Instant::now() + TAIL_WAIT);
                }
                _ = &mut tail_deadline, if stopping => {
                    // The last words did not come in time: back-fill transcribes them.
                    return Ended::Unfinished;
                }
                changed = hints.changed(), if !stopping => {
                    if changed.is_ok() {
                        let hints = hints.borrow_and_update().clone();
                        if let Err(err) = call.send(&session_update(&call.session.model, &hints)).await {
                            self.warn(format!("the new language/prompt could not be sent: {err}"));
                        }
                    }
                }
                event = call_events.recv() => match event {
                    // Disconnected too: nothing has come back for 4 s (ICE consent failed; see
                    // `hark_realtime`), so what was sent meanwhile most likely never arrived, and
                    // its transcript would not come back anyway. A new call, and a gap for
                    // back-fill (which has the recording), beat waiting for `failed`.
                    Some(CallEvent::Connection(state @ (RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed | RTCPeerConnectionState::Disconnected))) => {
                        return if stopping { tail(tail_acknowledged, assembler) } else { Ended::Lost(connection_lost(state)) };
                    }
                    Some(CallEvent::ChannelClosed) => {
                        return if stopping { tail(tail_acknowledged, assembler) } else { Ended::Lost("the transcriber hung up".into()) };
                    }
                    Some(event) => {
                        // The tail commit is answered by `committed` (then its transcript
                        // follows) or by an error (nothing was left to commit).
                        if stopping
                            && let CallEvent::Server(server) = &event
                            && matches!(server.as_ref(), ServerEvent::Committed(_) | ServerEvent::Error(_))
                        {
                            tail_acknowledged = true;
                        }
                        if let Some(assembler) = assembler.as_mut() {
                            self.handle(assembler, event).await;
                            if tail_acknowledged && assembler.unfinished() == 0 {
                                return Ended::Stopped;
                            }
                        } else if stopping {
                            return Ended::Stopped;
                        }
                    }
                    None => return if stopping { tail(tail_acknowledged, assembler) } else { Ended::Lost("the call went away".into()) },
                },
            }
        }
    }

    /// At stop: in manual mode, commit the utterance in progress (if any) with its span; with
    /// server VAD, commit whatever the server has not segmented yet. Whether a commit was sent
    /// (and so an acknowledgement is awaited).
    async fn commit_tail(
        &self,
        call: &Call,
        turns: &mut Option<TurnDetector>,
        assembler: Option<&mut Assembler>,
    ) -> bool {
        if let Some(turns) = turns.as_mut() {
            let Some((start, end)) = turns.flush() else {
                return false;
            };
            if let Some(assembler) = assembler {
                assembler.expect_commit(start, end);
            }
        }
        call.commit().await.is_ok()
    }

    async fn handle(&self, assembler: &mut Assembler, event: CallEvent) {
        let CallEvent::Server(event) = event else {
            return;
        };
        if let ServerEvent::Error(error) = event.as_ref() {
            // An empty tail commit is expected; anything else is worth a line in the log.
            tracing::info!(source = %self.source, message = %error.error.message, "transcriber error event");
            return;
        }
        for update in assembler.handle(&event) {
            match update {
                Update::Partial { item_id, text } => {
                    let _ = self.events.send(RecorderEvent::Partial {
                        source: self.source.clone(),
                        item_id,
                        text,
                    });
                }
                Update::Final {
                    item_id,
                    text,
                    start_ms,
                    end_ms,
                } => {
                    // A commit of pure silence comes back as an empty transcript: nothing to keep.
                    if text.trim().is_empty() {
                        continue;
                    }
                    let segment =
                        self.segment(item_id, text, start_ms, end_ms, SegmentStatus::Final);
                    let event = RecorderEvent::Final {
                        source: self.source.clone(),
                        segment: segment.clone(),
                    };
                    self.save_then_announce(segment, event);
                }
                Update::Failed {
                    item_id,
                    message,
                    start_ms,
                    end_ms,
                } => {
                    let segment = self.segment(
                        item_id,
                        String::new(),
                        start_ms,
                        end_ms,
                        SegmentStatus::Failed,
                    );
                    let event = RecorderEvent::Failed {
                        source: self.source.clone(),
                        segment: segment.clone(),
                        message,
                    };
                    self.save_then_announce(segment, event);
                }
            }
        }
    }

    fn segment(
        &self,
        item_id: String,
        text: String,
        start_ms: i64,
        end_ms: i64,
        status: SegmentStatus,
    ) -> Segment {
        Segment {
            id: Uuid::new_v4(),
            session_id: self.session_id,
            item_id: Some(item_id),
            source: self.source.clone(),
            speaker_label: None,
            start_ms: start_ms.max(0),
            end_ms: end_ms.max(start_ms.max(0)),
            text,
            status,
        }
    }
}

/// `session.update` changing only the transcription's language and prompt.
fn session_update(model: &str, hints: &Hints) -> ClientEvent {
    let mut transcription = serde_json::json!({ "model": model });
    if let Some(language) = &hints.language {
        transcription["language"] = language.clone().into();
    }
    if let Some(prompt) = &hints.prompt {
        transcription["prompt"] = prompt.clone().into();
    }
    let session = serde_json::json!({
        "type": "transcription",
        "audio": { "input": { "transcription": transcription } }
    });
    let session = serde_json::from_value(session).expect("a transcription session");
    ClientEvent::session_update(None, session)
}

/// Why a call's connection ended, for the warning.
fn connection_lost(state: RTCPeerConnectionState) -> String {
    match state {
        RTCPeerConnectionState::Disconnected => {
            "the network dropped: nothing came back from the transcriber for a few seconds".into()
        }
        state => format!("connection {state}"),
    }
}

/// How much of the timeline the gaps among `segments` cover, counting time two sources both
/// missed once.
fn missed_ms(segments: &[Segment]) -> i64 {
    let mut coverage = Coverage::default();
    for gap in segments
        .iter()
        .filter(|s| s.status == SegmentStatus::Failed)
    {
        coverage.miss(gap.start_ms, gap.end_ms);
    }
    coverage.missed.iter().map(|(from, to)| to - from).sum()
}

/// How a call that ended while stopping ended: with all of its transcript, or without its last
/// words (kept as gaps).
fn tail(acknowledged: bool, assembler: &Option<Assembler>) -> Ended {
    if acknowledged && assembler.as_ref().is_none_or(|a| a.unfinished() == 0) {
        Ended::Stopped
    } else {
        Ended::Unfinished
    }
}

/// How a call ended.
enum Ended {
    /// We stopped recording.
    Stopped,
    /// We stopped recording, and the last words' transcript did not come in time.
    Unfinished,
    /// It broke; reconnect.
    Lost(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_skipped_on_the_way_and_frames_dropped_are_missed_as_one_span() {
        let mut coverage = Coverage::default();
        coverage.arrived(0);
        coverage.arrived(20);
        assert_eq!(coverage.missed, []);
        // Frames 2..9 never arrived (a full queue), frame 10 was dropped.
        coverage.arrived(200);
        coverage.miss(200, 220);
        assert_eq!(coverage.missed, [(40, 220)]);
        coverage.arrived(220);
        assert_eq!(coverage.missed, [(40, 220)]);
    }

    #[test]
    fn a_call_cut_short_misses_what_it_was_sent_after_the_last_placed_utterance() {
        let mut coverage = Coverage {
            call_from: Some(1_000),
            sent_to: 5_000,
            ..Coverage::default()
        };
        coverage.call_cut_short(None);
        assert_eq!(coverage.missed, [(1_000, 5_000)]);
        assert_eq!(coverage.call_from, None);
        // Only once per call.
        coverage.missed.clear();
        coverage.call_cut_short(None);
        assert_eq!(coverage.missed, []);
    }

    #[test]
    fn time_both_sources_missed_counts_once() {
        let gap = |source: &str, start_ms: i64, end_ms: i64| {
            Segment::gap(Uuid::nil(), source, start_ms, end_ms)
        };
        let heard = Segment {
            text: "heard".into(),
            status: SegmentStatus::Final,
            ..gap("microphone", 0, 9_000)
        };
        let segments = [
            gap("microphone", 0, 400),
            gap("system", 0, 500),
            heard,
            gap("microphone", 10_000, 12_000),
        ];
        assert_eq!(missed_ms(&segments), 500 + 2_000);
    }

    #[test]
    fn missed_spans_apart_stay_apart_and_overlapping_ones_merge() {
        let mut coverage = Coverage::default();
        coverage.miss(5_000, 6_000);
        coverage.miss(1_000, 2_000);
        coverage.miss(8_000, 9_000);
        assert_eq!(
            coverage.missed,
            [(1_000, 2_000), (5_000, 6_000), (8_000, 9_000)]
        );
        coverage.miss(5_500, 8_000);
        assert_eq!(coverage.missed, [(1_000, 2_000), (5_000, 9_000)]);
    }
}
