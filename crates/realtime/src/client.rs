//! One call to OpenAI's Realtime API: a webrtc-rs 0.21 peer connection with one Opus track and
//! the `oai-events` data channel (created before the offer), a non-trickle offer posted to Hark's
//! proxy (`POST /v1/sessions`), the answer applied, and the call's life as [`CallEvent`]s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hark_wire::proxy::{SessionRequest, SessionResponse};
use hark_wire::realtime::{ClientEvent, EVENTS_CHANNEL_LABEL, ServerEvent};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};

use crate::error::{RealtimeError, Result};

/// Opus's payload type in OpenAI's answers (used until the negotiated one is read).
const OPUS_PAYLOAD_TYPE: u8 = 111;
/// ICE connectivity checks every 20 ms instead of the library's 200 ms: on a good network the
/// call connects a few hundred milliseconds sooner.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// Consent checks (STUN, RFC 7675) every second instead of every 2 s, and the call counts as
/// `disconnected` after 4 s with no answer to them instead of 5 s (only STUN counts: the
/// audio and events coming back do not). The recorder hangs up a disconnected call and keeps
/// what it was sent as a gap for back-fill, so a shorter outage is caught, and sooner. Not
/// shorter: the library handles an overdue timer before reading the answers waiting, so a
/// stall of its thread for about that long, less a second, would hang up a healthy call.
/// A check costs about a hundred bytes each way.
const CONSENT_EVERY: Duration = Duration::from_secs(1);
const DISCONNECTED_AFTER: Duration = Duration::from_secs(4);
/// Gathering host candidates is local; it never takes long.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// The proxy waits for OpenAI; give it time, but not forever.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(20);

/// What to ask the proxy for.
#[derive(Debug, Clone)]
pub struct Dial {
    /// The proxy's API base, such as `https://hark-proxy.fly.dev/v1`.
    pub proxy_url: String,
    /// The user's Supabase access token (none for a proxy in `--dev` mode).
    pub token: Option<String>,
    /// The interview recorded.
    pub interview_id: Uuid,
    /// `microphone` or `system`.
    pub source: String,
    /// Language hint (ISO-639-1).
    pub language: Option<String>,
    /// Vocabulary prompt.
    pub prompt: Option<String>,
    /// Local address for ICE host candidates (`0.0.0.0:0`: any interface; tests use loopback).
    pub bind: String,
}

/// How long each step of setting up the call took.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Offer created and candidates gathered.
    pub offer_ms: f64,
    /// Proxy (and OpenAI) answered.
    pub answer_ms: f64,
}

/// What happens on a call.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// The peer connection's state (`connected`, `disconnected`, `failed`, `closed`, …).
    Connection(RTCPeerConnectionState),
    /// The `oai-events` channel is open: the server's events follow.
    ChannelOpen,
    /// A server event (boxed: some are large).
    Server(Box<ServerEvent>),
    /// A message that did not decode, with why (logged, never fatal).
    Undecodable {
        /// The text.
        text: String,
        /// The decoding error.
        error: String,
    },
    /// The `oai-events` channel closed (the server hung up, or we did).
    ChannelClosed,
}

struct Handler {
    events: mpsc::UnboundedSender<CallEvent>,
    gathered: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete
            && let Some(gathered) = self.gathered.lock().ok().and_then(|mut g| g.take())
        {
            let _ = gathered.send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(CallEvent::Connection(state));
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The HTTP client (rustls with the ring provider, as the rest of Hark).
pub fn http_client() -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(SIGNAL_TIMEOUT)
        .build()
        .map_err(|err| RealtimeError::ProxyUnreachable {
            url: String::new(),
            message: format!("cannot build the HTTP client: {err}"),
        })
}

/// A call in progress.
pub struct Call {
    peer: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticSample>,
    channel: Arc<dyn DataChannel>,
    ssrc: u32,
    payload_type: u8,
    http: reqwest::Client,
    dial: Dial,
    /// The proxy's answer: session id, model, turn mode, limits.
    pub session: SessionResponse,
    /// How long setting it up took.
    pub timings: Timings,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("session_id", &self.session.session_id)
            .field("call_id", &self.session.call_id)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// Sets up a call through the proxy. Events arrive on the returned receiver from the moment
    /// the connection starts.
    pub async fn connect(dial: Dial) -> Result<(Call, mpsc::UnboundedReceiver<CallEvent>)> {
        let started = Instant::now();
        let http = http_client()?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let (gathered_tx, gathered_rx) = tokio::sync::oneshot::channel();
        let handler = Arc::new(Handler {
            events: events_tx.clone(),
            gathered: std::sync::Mutex::new(Some(gathered_tx)),
        });
        let peer = build_peer(handler, dial.bind.clone()).await?;
        let ssrc = rand::random::<u32>();
        let track = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                MediaStreamTrack::new(
                    format!("hark-{}", dial.source),
                    dial.source.clone(),
                    dial.source.clone(),
                    RtpCodecKind::Audio,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: opus_codec(),
                        ..Default::default()
                    }],
                ),
            )
            .map_err(RealtimeError::rtc("track creation"))?,
        );
        let sender = peer
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(RealtimeError::rtc("adding the audio track"))?;
        // The events channel must exist before the offer, or it is not negotiated.
        let channel = peer
            .create_data_channel(EVENTS_CHANNEL_LABEL, None)
            .await
            .map_err(RealtimeError::rtc("creating the events channel"))?;
        tokio::spawn(pump_channel(channel.clone(), events_tx));
        let offer = peer
            .create_offer(None)
            .await
            .map_err(RealtimeError::rtc("creating the offer"))?;
        peer.set_local_description(offer)
            .await
            .map_err(RealtimeError::rtc("applying the offer"))?;
        // Non-trickle: the offer carries every candidate.
        tokio::time::timeout(GATHER_TIMEOUT, gathered_rx)
            .await
            .map_err(|_| RealtimeError::Timeout {
                what: "ICE candidate gathering",
                seconds: GATHER_TIMEOUT.as_secs(),
            })?
            .map_err(|_| RealtimeError::Rtc {
                step: "candidate gathering",
                message: "the peer connection went away".into(),
            })?;
        let sdp = peer
            .local_description()
            .await
            .ok_or_else(|| RealtimeError::Rtc {
                step: "reading the offer",
                message: "no local description".into(),
            })?
            .sdp;
        let offer_ms = started.elapsed().as_secs_f64() * 1000.0;

        let session = match post_offer(&http, &dial, sdp).await {
            Ok(session) => session,
            Err(err) => {
                let _ = peer.close().await;
                return Err(err);
            }
        };
        let answer = RTCSessionDescription::answer(session.sdp.clone())
            .map_err(RealtimeError::rtc("reading the answer"))?;
        if let Err(err) = peer.set_remote_description(answer).await {
            let _ = peer.close().await;
            return Err(RealtimeError::rtc("applying the answer")(err));
        }
        let payload_type = sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
            .unwrap_or(OPUS_PAYLOAD_TYPE);
        let answer_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            session_id = %session.session_id,
            model = %session.model,
            offer_ms,
            answer_ms,
            "realtime call set up"
        );
        Ok((
            Call {
                peer,
                track,
                channel,
                ssrc,
                payload_type,
                http,
                dial,
                session,
                timings: Timings {
                    offer_ms,
                    answer_ms,
                },
            },
            events,
        ))
    }

    /// Sends one 20 ms Opus packet on the audio track.
    pub async fn send_audio(&self, opus: &[u8]) -> Result<()> {
        let now = Instant::now();
        let sample = Sample {
            data: Bytes::copy_from_slice(opus),
            timestamp: now,
            duration: Duration::from_millis(20),
            ..Sample::new(now)
        };
        self.track
            .sample_writer(self.ssrc, self.payload_type)
            .write_sample(&sample)
            .await
            .map_err(RealtimeError::rtc("sending audio"))
    }

    /// Sends a client event on `oai-events`.
    pub async fn send(&self, event: &ClientEvent) -> Result<()> {
        self.channel
            .send_text(&event.to_json())
            .await
            .map_err(RealtimeError::rtc("sending an event"))
    }

    /// Manual turn mode: makes the audio sent since the last commit an utterance.
    pub async fn commit(&self) -> Result<()> {
        self.send(&ClientEvent::Commit { event_id: None }).await
    }

    /// Hangs up: tells the proxy (which ends the call at OpenAI and in the audit), then closes
    /// the connection. Safe to call more than once.
    pub async fn hang_up(&self) -> Result<()> {
        let url = format!(
            "{}/sessions/{}/hangup",
            self.dial.proxy_url.trim_end_matches('/'),
            self.session.session_id
        );
        let mut request = self.http.post(&url);
        if let Some(token) = &self.dial.token {
            request = request.bearer_auth(token);
        }
        let result = match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(refusal(response, "hang-up").await),
            Err(err) => Err(RealtimeError::ProxyUnreachable {
                url,
                message: err.to_string(),
            }),
        };
        let _ = self.peer.close().await;
        result
    }
}

async fn build_peer(
    handler: Arc<dyn PeerConnectionEventHandler>,
    bind: String,
) -> Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PAYLOAD_TYPE,
            },
            RtpCodecKind::Audio,
        )
        .map_err(RealtimeError::rtc("registering Opus"))?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .map_err(RealtimeError::rtc("registering interceptors"))?;
    let setting_engine = SettingEngineBuilder::new()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), None)
        .with_ice_timeouts(Some(DISCONNECTED_AFTER), None, Some(CONSENT_EVERY))
        .build();
    let peer = Box::pin(
        PeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(setting_engine)
            .with_handler(handler)
            .with_udp_addrs(vec![bind])
            .build(),
    )
    .await
    .map_err(RealtimeError::rtc("creating the peer connection"))?;
    Ok(Arc::new(peer))
}

async fn pump_channel(channel: Arc<dyn DataChannel>, events: mpsc::UnboundedSender<CallEvent>) {
    while let Some(event) = channel.poll().await {
        let observed = match event {
            DataChannelEvent::OnOpen => CallEvent::ChannelOpen,
            DataChannelEvent::OnMessage(message) => {
                let text = String::from_utf8_lossy(&message.data).into_owned();
                match ServerEvent::from_json(&text) {
                    Ok(event) => CallEvent::Server(Box::new(event)),
                    Err(err) => {
                        tracing::warn!(%err, "undecodable realtime event");
                        CallEvent::Undecodable {
                            text,
                            error: err.to_string(),
                        }
                    }
                }
            }
            DataChannelEvent::OnClose => {
                let _ = events.send(CallEvent::ChannelClosed);
                break;
            }
            _ => continue,
        };
        if events.send(observed).is_err() {
            break;
        }
    }
}

async fn post_offer(http: &reqwest::Client, dial: &Dial, sdp: String) -> Result<SessionResponse> {
    let url = format!("{}/sessions", dial.proxy_url.trim_end_matches('/'));
    let body = SessionRequest {
        sdp,
        interview_id: dial.interview_id,
        source: dial.source.clone(),
        language: dial.language.clone(),
        prompt: dial.prompt.clone(),
    };
    let request = http.post(&url).json(&body);
    ask_proxy(request, &url, dial.token.as_deref(), "call", |status| {
        status == reqwest::StatusCode::CREATED
    })
    .await
}

/// Sends `request` to the proxy at `url` as the user with `token`, and reads the JSON answer;
/// a status `ok` refuses is the proxy's refusal of `what`.
pub(crate) async fn ask_proxy<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    url: &str,
    token: Option<&str>,
    what: &'static str,
    ok: impl Fn(reqwest::StatusCode) -> bool,
) -> Result<T> {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let unreachable = |err: reqwest::Error| RealtimeError::ProxyUnreachable {
        url: url.to_owned(),
        message: err.to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    if !ok(response.status()) {
        return Err(refusal(response, what).await);
    }
    let text = response.text().await.map_err(unreachable)?;
    serde_json::from_str(&text).map_err(|err| {
        RealtimeError::BadAnswer(format!(
            "{err}: {}",
            text.chars().take(300).collect::<String>()
        ))
    })
}

/// An error answer from the proxy to a request for `what`, read as OpenAI-shaped error JSON
/// when it is one.
pub(crate) async fn refusal(response: reqwest::Response, what: &'static str) -> RealtimeError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = response.text().await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v["error"][name].as_str())
            .map(str::to_string)
    };
    RealtimeError::Refused {
        what,
        status,
        code: field("code"),
        message: field("message").unwrap_or_else(|| body.chars().take(300).collect()),
        retry_after,
    }
}
