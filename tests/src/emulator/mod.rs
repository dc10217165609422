//! An OpenAI Realtime API emulator: the stand-in for OpenAI in every Hark test.
//!
//! It serves the documented REST surface (`/v1/realtime/client_secrets`, `/v1/realtime/calls`,
//! hang-up, `/v1/audio/transcriptions`) and answers each call with a real webrtc-rs peer. Audio
//! arriving on the Opus track is decoded, segmented by server VAD (or by the client's commits)
//! and "recognised" as the DTMF keys it contains, so a test that plays tones 4-1-7 gets the
//! transcript `4 1 7` back through OpenAI's exact event shapes. Faults are injected through
//! [`Faults`], per server or for the next call. See `tests/README.md` for the protocol.

pub mod audio;
mod batch;
mod call;
mod faults;
mod http;
mod session;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

pub use faults::Faults;

/// How the emulator is set up.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where the HTTP API listens (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The one standard API key it accepts.
    pub api_key: String,
    /// The longest a call may last (OpenAI: 60 minutes).
    pub max_call_duration: Duration,
    /// Faults applied to every request until changed.
    pub faults: Faults,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_API_KEY.to_owned(),
            max_call_duration: Duration::from_secs(60 * 60),
            faults: Faults::default(),
        }
    }
}

/// The API key the emulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sk-test";

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `POST /v1/realtime/calls/{id}/hangup`.
    Hangup,
    /// The maximum call duration passed.
    Expired,
    /// A `drop_*` fault closed it.
    Dropped,
    /// The client closed the peer connection or it failed.
    PeerClosed,
    /// The emulator shut down.
    Shutdown,
}

/// What the emulator knows about one call, for tests to inspect (`GET /_emulator/calls`).
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// `rtc_…`.
    pub call_id: String,
    /// `sess_…`.
    pub session_id: String,
    /// The transcription model, if any.
    pub model: Option<String>,
    /// `server_vad` or `manual`.
    pub turn_detection: &'static str,
    /// Whether the request used an ephemeral key (`application/sdp`) or the standard key.
    pub auth: &'static str,
    /// Unix milliseconds at creation.
    pub created_at_ms: u64,
    /// `None` while the call is up.
    pub ended: Option<EndReason>,
    /// Audio received on the track, ms.
    pub audio_ms: u64,
    /// Items in commit order.
    pub items: Vec<ItemRecord>,
    /// Types of the client events received, in order.
    pub client_events: Vec<String>,
    /// When a `network_down_*` fault cut the call's network (Unix ms).
    pub network_cut_at_ms: Option<u64>,
}

/// One committed item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRecord {
    /// `item_…`.
    pub item_id: String,
    /// The item before it.
    pub previous_item_id: Option<String>,
    /// The recognised transcript.
    pub transcript: String,
    /// `completed`, `failed` or `withheld`.
    pub outcome: &'static str,
}

/// A minted ephemeral key and the session it fixes.
#[derive(Debug, Clone)]
struct EphemeralKey {
    session: hark_wire::realtime::SessionConfig,
    expires_at: i64,
}

/// Shared state of a running emulator.
#[derive(Debug)]
struct State {
    config: EmulatorConfig,
    faults: Mutex<Faults>,
    next_call_faults: Mutex<VecDeque<Faults>>,
    ephemeral_keys: Mutex<HashMap<String, EphemeralKey>>,
    calls: Mutex<HashMap<String, call::CallHandle>>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (tests may panic).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    /// Faults for the next call: the queued one-shot set if any, else the server's.
    fn take_call_faults(&self) -> Faults {
        lock(&self.next_call_faults)
            .pop_front()
            .unwrap_or_else(|| lock(&self.faults).clone())
    }

    fn call_records(&self) -> Vec<CallRecord> {
        let mut records: Vec<CallRecord> = lock(&self.calls)
            .values()
            .map(|call| lock(&call.record).clone())
            .collect();
        records.sort_by_key(|record| record.created_at_ms);
        records
    }
}

/// A running emulator. Dropping it stops the HTTP server; [`Emulator::shutdown`] also ends calls.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// Binds the listener and serves in the background.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        config.faults.validate().map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot listen on {}: {err}; pick a free address with --listen",
                    config.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            faults: Mutex::new(config.faults.clone()),
            config,
            next_call_faults: Mutex::new(VecDeque::new()),
            ephemeral_keys: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = http::router(state.clone());
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(%err, "emulator HTTP server failed");
            }
        });
        Ok(Emulator {
            addr,
            state,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The socket address the HTTP API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client configures as OpenAI's, e.g. `http://127.0.0.1:8089/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The standard API key it accepts.
    pub fn api_key(&self) -> &str {
        &self.state.config.api_key
    }

    /// Replaces the server-wide faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.state.faults) = faults;
    }

    /// Queues faults for the next call created (one per call, in order).
    pub fn push_next_call_faults(&self, faults: Faults) {
        lock(&self.state.next_call_faults).push_back(faults);
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state.call_records()
    }

    /// One call by id.
    pub fn call(&self, call_id: &str) -> Option<CallRecord> {
        lock(&self.state.calls)
            .get(call_id)
            .map(|call| lock(&call.record).clone())
    }

    /// Ends every call and stops the server.
    pub async fn shutdown(mut self) {
        let calls: Vec<call::CallHandle> = lock(&self.state.calls).values().cloned().collect();
        for call in calls {
            call.end(EndReason::Shutdown).await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// An OpenAI-style id: `prefix` and 21 random alphanumerics (`event_…`, `item_…`, `sess_…`).
fn new_id(prefix: &str) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(21)
        .map(char::from)
        .collect();
    format!("{prefix}{suffix}")
}
