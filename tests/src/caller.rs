//! A minimal WebRTC caller for tests: a webrtc-rs offerer with one Opus track and the
//! `oai-events` channel, that signals to an OpenAI-shaped endpoint and plays PCM in real time.
//!
//! It is deliberately not the product's realtime client: the emulator's tests must not depend
//! on the code they will later be used to check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hark_wire::realtime::{
    ClientEvent, EVENTS_CHANNEL_LABEL, ServerEvent, SessionConfig, TranscriptionCompleted,
};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::peer::{OPUS_PAYLOAD_TYPE, build_opus_peer, opus_codec};

/// What the caller observes.
#[derive(Debug, Clone)]
pub enum CallerEvent {
    /// The `oai-events` channel opened.
    ChannelOpen,
    /// A text message on `oai-events`.
    Message(String),
    /// The `oai-events` channel closed.
    ChannelClosed,
    /// The peer connection changed state.
    Connection(RTCPeerConnectionState),
}

/// How the offer is posted to `/v1/realtime/calls`.
#[derive(Debug, Clone)]
pub enum CallForm {
    /// `multipart/form-data` with the standard key and an optional `session` part.
    Multipart {
        /// The standard API key.
        api_key: String,
        /// The `session` part.
        session: Option<Box<SessionConfig>>,
    },
    /// `application/sdp` with an ephemeral key.
    Ephemeral {
        /// The `ek_…` key.
        key: String,
    },
    /// Hark's proxy: `POST {base_url}/sessions` with JSON and a Supabase access token; the
    /// `base_url` given to [`Caller::dial`] is the proxy's `…/v1`.
    Proxy {
        /// The user's access token (none in the proxy's `--dev` mode).
        token: Option<String>,
        /// The interview recorded.
        interview_id: String,
    },
}

/// The HTTP answer to a call creation that was refused.
#[derive(Debug)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if sent.
    pub retry_after: Option<String>,
    /// The body (OpenAI's error JSON).
    pub body: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call refused with {}: {}", self.status, self.body)
    }
}

impl std::error::Error for Refusal {}

struct Handler {
    events: mpsc::UnboundedSender<CallerEvent>,
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
        let _ = self.events.send(CallerEvent::Connection(state));
    }
}

/// A connected (or connecting) test call.
pub struct Caller {
    peer: Arc<dyn PeerConnection>,
    sender: Arc<dyn RtpSender>,
    track: Arc<TrackLocalStaticSample>,
    channel: Arc<dyn DataChannel>,
    events: mpsc::UnboundedReceiver<CallerEvent>,
    encoder: opus::Encoder,
    ssrc: u32,
    payload_type: u8,
    /// The call id (from `Location`, or the proxy's answer).
    pub call_id: String,
    /// The proxy's whole answer, when dialled through the proxy.
    pub proxy_answer: Option<serde_json::Value>,
    /// When the offer was created.
    pub offered_at: Instant,
    /// Every server event received so far, in order.
    pub received: Vec<ServerEvent>,
    /// Messages on `oai-events` that did not decode, with the error.
    pub undecodable: Vec<(String, String)>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("call_id", &self.call_id)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Makes an offer, posts it to `{base_url}/realtime/calls`, and applies the answer.
    ///
    /// A refusal comes back as an error that downcasts to [`Refusal`].
    pub async fn dial(base_url: &str, form: CallForm) -> anyhow::Result<Caller> {
        let offered_at = Instant::now();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (gathered_tx, gathered_rx) = tokio::sync::oneshot::channel();
        let handler = Arc::new(Handler {
            events: events_tx.clone(),
            gathered: std::sync::Mutex::new(Some(gathered_tx)),
        });
        let peer = build_opus_peer(
            handler,
            "127.0.0.1:0".to_owned(),
            Some(Duration::from_millis(20)),
            None,
        )
        .await?;
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "hark-test".to_owned(),
                "microphone".to_owned(),
                "microphone".to_owned(),
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
        )?);
        let sender = peer.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        let channel = peer.create_data_channel(EVENTS_CHANNEL_LABEL, None).await?;
        tokio::spawn(poll_channel(channel.clone(), events_tx));
        let offer = peer.create_offer(None).await?;
        peer.set_local_description(offer).await?;
        tokio::time::timeout(Duration::from_secs(5), gathered_rx)
            .await
            .map_err(|_| anyhow::anyhow!("ICE gathering did not complete in 5 s"))??;
        let offer_sdp = peer
            .local_description()
            .await
            .ok_or_else(|| anyhow::anyhow!("no offer"))?
            .sdp;

        let (answer, call_id, proxy_answer) = match post_offer(base_url, &form, offer_sdp).await {
            Ok(answered) => answered,
            Err(err) => {
                let _ = peer.close().await;
                return Err(err);
            }
        };
        peer.set_remote_description(RTCSessionDescription::answer(answer)?)
            .await?;
        let payload_type = sender
            .get_parameters()
            .await?
            .rtp_parameters
            .codecs
            .first()
            .map(|codec| codec.payload_type)
            .unwrap_or(OPUS_PAYLOAD_TYPE);
        let mut encoder =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)?;
        encoder.set_bitrate(opus::Bitrate::Bits(24_000))?;
        Ok(Caller {
            peer,
            sender,
            track,
            channel,
            events,
            encoder,
            ssrc,
            payload_type,
            call_id,
            proxy_answer,
            offered_at,
            received: Vec::new(),
            undecodable: Vec::new(),
        })
    }

    /// Plays 48 kHz mono PCM as 20 ms Opus packets, paced in real time.
    pub async fn play(&mut self, samples: &[f32]) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut packet = vec![0u8; 1500];
        for frame in samples.chunks(960) {
            let mut pcm = [0.0f32; 960];
            pcm[..frame.len()].copy_from_slice(frame);
            let n = self.encoder.encode_float(&pcm, &mut packet)?;
            ticker.tick().await;
            let sample = Sample {
                data: Bytes::copy_from_slice(&packet[..n]),
                timestamp: Instant::now(),
                duration: Duration::from_millis(20),
                ..Sample::new(Instant::now())
            };
            self.track
                .sample_writer(self.ssrc, self.payload_type)
                .write_sample(&sample)
                .await?;
        }
        Ok(())
    }

    /// Sends a client event on `oai-events`.
    pub async fn send(&self, event: &ClientEvent) -> anyhow::Result<()> {
        self.send_text(&event.to_json()).await
    }

    /// Sends raw text on `oai-events` (for malformed-input tests).
    pub async fn send_text(&self, text: &str) -> anyhow::Result<()> {
        self.channel.send_text(text).await?;
        Ok(())
    }

    /// The next observation, or `None` after `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<CallerEvent> {
        let event = tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()?;
        if let CallerEvent::Message(text) = &event {
            match ServerEvent::from_json(text) {
                Ok(decoded) => self.received.push(decoded),
                Err(err) => self.undecodable.push((text.clone(), err.to_string())),
            }
        }
        Some(event)
    }

    /// Waits until a server event satisfies `done`; returns it. Fails after `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&ServerEvent) -> bool,
    ) -> anyhow::Result<ServerEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let before = self.received.len();
            match self.next_event(left).await {
                Some(_) => {
                    if self.received.len() > before && done(&self.received[before]) {
                        return Ok(self.received[before].clone());
                    }
                }
                None => anyhow::bail!(
                    "no matching event within {timeout:?}; received: {:?}",
                    self.received
                        .iter()
                        .map(ServerEvent::event_type)
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits for the next `…transcription.completed`.
    pub async fn wait_for_completed(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<TranscriptionCompleted> {
        match self
            .wait_for(timeout, |e| {
                matches!(e, ServerEvent::TranscriptionCompleted(_))
            })
            .await?
        {
            ServerEvent::TranscriptionCompleted(completed) => Ok(completed),
            other => anyhow::bail!(
                "expected a completed transcription, got {}",
                other.event_type()
            ),
        }
    }

    /// Sends `input_audio_buffer.commit` (manual turn mode).
    pub async fn commit(&self) -> anyhow::Result<()> {
        self.send(&ClientEvent::Commit { event_id: None }).await
    }

    /// Waits until the connection reaches one of `states` (or `timeout` passes).
    pub async fn wait_for_connection(
        &mut self,
        timeout: Duration,
        states: &[RTCPeerConnectionState],
    ) -> anyhow::Result<RTCPeerConnectionState> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(CallerEvent::Connection(state)) if states.contains(&state) => {
                    return Ok(state);
                }
                Some(_) => {}
                None => anyhow::bail!("connection did not reach {states:?} within {timeout:?}"),
            }
        }
    }

    /// Waits until the `oai-events` channel closes or the connection fails (or `timeout`).
    pub async fn wait_for_hang_up(&mut self, timeout: Duration) -> anyhow::Result<CallerEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(event @ CallerEvent::ChannelClosed)
                | Some(
                    event @ CallerEvent::Connection(
                        RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                        | RTCPeerConnectionState::Disconnected,
                    ),
                ) => return Ok(event),
                Some(_) => {}
                None => anyhow::bail!("the call was still up after {timeout:?}"),
            }
        }
    }

    /// Final transcripts received so far, in arrival order.
    pub fn transcripts(&self) -> Vec<String> {
        self.received
            .iter()
            .filter_map(|event| match event {
                ServerEvent::TranscriptionCompleted(completed) => {
                    Some(completed.transcript.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Hangs up from this side.
    pub async fn close(&self) {
        let _ = self.sender.get_parameters().await;
        let _ = self.peer.close().await;
    }
}

async fn poll_channel(channel: Arc<dyn DataChannel>, events: mpsc::UnboundedSender<CallerEvent>) {
    while let Some(event) = channel.poll().await {
        let observed = match event {
            DataChannelEvent::OnOpen => CallerEvent::ChannelOpen,
            DataChannelEvent::OnMessage(message) => {
                CallerEvent::Message(String::from_utf8_lossy(&message.data).into_owned())
            }
            DataChannelEvent::OnClose => {
                let _ = events.send(CallerEvent::ChannelClosed);
                break;
            }
            _ => continue,
        };
        if events.send(observed).is_err() {
            break;
        }
    }
}

/// Posts the offer; returns the answer SDP, the call id and (through the proxy) its answer.
async fn post_offer(
    base_url: &str,
    form: &CallForm,
    offer_sdp: String,
) -> anyhow::Result<(String, String, Option<serde_json::Value>)> {
    let client = crate::http();
    let calls = format!("{base_url}/realtime/calls");
    let request = match form {
        CallForm::Multipart { api_key, session } => {
            let mut multipart = reqwest::multipart::Form::new().part(
                "sdp",
                reqwest::multipart::Part::text(offer_sdp).mime_str("application/sdp")?,
            );
            if let Some(session) = session {
                multipart = multipart.part(
                    "session",
                    reqwest::multipart::Part::text(serde_json::to_string(session)?)
                        .mime_str("application/json")?,
                );
            }
            client.post(calls).bearer_auth(api_key).multipart(multipart)
        }
        CallForm::Ephemeral { key } => client
            .post(calls)
            .bearer_auth(key)
            .header(reqwest::header::CONTENT_TYPE, "application/sdp")
            .body(offer_sdp),
        CallForm::Proxy {
            token,
            interview_id,
        } => {
            let body = serde_json::json!({"sdp": offer_sdp, "interview_id": interview_id,
                "source": "microphone", "language": "en"});
            let request = client.post(format!("{base_url}/sessions")).json(&body);
            match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        }
    };
    let response = request.send().await?;
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    if status != reqwest::StatusCode::CREATED {
        return Err(Refusal {
            status: status.as_u16(),
            retry_after,
            body,
        }
        .into());
    }
    if let CallForm::Proxy { .. } = form {
        // The proxy answers JSON: {session_id, call_id, sdp, model, turn_detection, …}.
        let answer: serde_json::Value = serde_json::from_str(&body)?;
        let field = |name: &str| {
            answer[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("proxy answer without {name}: {body}"))
        };
        return Ok((field("sdp")?, field("call_id")?, Some(answer)));
    }
    // OpenAI answers the SDP itself, with the call id in `Location`.
    let location = location.ok_or_else(|| anyhow::anyhow!("201 without a Location header"))?;
    let call_id = hark_wire::rest::call_id_from_location(&location)
        .ok_or_else(|| anyhow::anyhow!("Location {location:?} holds no call id"))?
        .to_owned();
    Ok((body, call_id, None))
}
