//! One emulated call: the webrtc-rs answerer, the track decoder, and the session actor that
//! turns audio and client events into OpenAI's server events on `oai-events`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hark_wire::WireError;
use hark_wire::realtime::{
    ClientEvent, Committed, EVENTS_CHANNEL_LABEL, ErrorEvent, EventError, InputAudioBufferCleared,
    LogProb, ServerEvent, SessionConfig, SessionEvent, SpeechStarted, SpeechStopped,
    TranscriptionCompleted, TranscriptionDelta, TranscriptionFailed, TranscriptionSegment, Usage,
    UsageInputDetails,
};
use hark_wire::rest::ApiErrorResponse;
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};

use super::audio::{self, BufferEvent, FRAME_MS, FrameCutter, FrameInfo, InputBuffer};
use super::{CallRecord, EndReason, Faults, ItemRecord, lock, new_id, session};

/// What the call's actor reacts to.
enum Input {
    DataChannel(Arc<dyn DataChannel>),
    DataChannelOpen,
    ClientMessage(String),
    Frames(Vec<FrameInfo>),
    Connection(RTCPeerConnectionState),
    Stop,
}

/// A live (or ended) call, as the HTTP layer holds it.
#[derive(Clone)]
pub(crate) struct CallHandle {
    pub(crate) record: Arc<Mutex<CallRecord>>,
    control: mpsc::UnboundedSender<Input>,
    peer: Arc<dyn PeerConnection>,
}

impl std::fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHandle")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl CallHandle {
    /// Ends the call for `reason` (the first reason recorded wins) and closes the peer.
    pub(crate) async fn end(&self, reason: EndReason) {
        end_call(&self.record, &self.peer, reason).await;
        let _ = self.control.send(Input::Stop);
    }
}

async fn end_call(record: &Mutex<CallRecord>, peer: &Arc<dyn PeerConnection>, reason: EndReason) {
    {
        let mut record = lock(record);
        if record.ended.is_none() {
            record.ended = Some(reason);
        }
    }
    if let Err(err) = peer.close().await {
        tracing::debug!(%err, "closing the emulator's peer connection");
    }
}

/// Why a call could not be created.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The offer is not usable SDP; the message says why.
    BadOffer(String),
    /// Something on the emulator's side failed.
    Internal(String),
}

struct AnswerHandler {
    input: mpsc::UnboundedSender<Input>,
    gathered: Mutex<Option<oneshot::Sender<()>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for AnswerHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete
            && let Some(gathered) = lock(&self.gathered).take()
        {
            let _ = gathered.send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.input.send(Input::Connection(state));
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        let _ = self.input.send(Input::DataChannel(data_channel));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        tokio::spawn(read_track(track, self.input.clone()));
    }
}

/// Answers `offer_sdp` and starts the call's actor. Returns the call and the answer SDP.
pub(crate) async fn start(
    call_id: String,
    offer_sdp: String,
    session: SessionConfig,
    faults: Faults,
    max_duration: Duration,
    udp_addr: String,
    record: CallRecord,
) -> Result<(CallHandle, String), CallError> {
    let (input_tx, input_rx) = mpsc::unbounded_channel();
    let (gathered_tx, gathered_rx) = oneshot::channel();
    let handler = Arc::new(AnswerHandler {
        input: input_tx.clone(),
        gathered: Mutex::new(Some(gathered_tx)),
    });
    let network = crate::peer::NetworkSwitch::default();
    let peer = crate::peer::build_opus_peer(handler, udp_addr, None, Some(network.clone()))
        .await
        .map_err(|err| CallError::Internal(format!("cannot build the answering peer: {err}")))?;
    let negotiated = async {
        let offer = RTCSessionDescription::offer(offer_sdp)
            .map_err(|err| CallError::BadOffer(err.to_string()))?;
        peer.set_remote_description(offer)
            .await
            .map_err(|err| CallError::BadOffer(err.to_string()))?;
        let answer = peer
            .create_answer(None)
            .await
            .map_err(|err| CallError::BadOffer(format!("cannot answer this offer: {err}")))?;
        peer.set_local_description(answer)
            .await
            .map_err(|err| CallError::Internal(err.to_string()))?;
        if tokio::time::timeout(Duration::from_secs(5), gathered_rx)
            .await
            .is_err()
        {
            return Err(CallError::Internal(
                "ICE gathering did not complete in 5 s".into(),
            ));
        }
        peer.local_description()
            .await
            .map(|answer| answer.sdp)
            .ok_or_else(|| CallError::Internal("no local description after answering".into()))
    };
    let answer_sdp = match negotiated.await {
        Ok(sdp) => sdp,
        Err(err) => {
            let _ = peer.close().await;
            return Err(err);
        }
    };
    let record = Arc::new(Mutex::new(record));
    let handle = CallHandle {
        record: record.clone(),
        control: input_tx.clone(),
        peer: peer.clone(),
    };
    let max_duration = faults
        .max_call_ms
        .map(Duration::from_millis)
        .unwrap_or(max_duration);
    let actor = CallActor {
        call_id,
        record,
        peer,
        buffer: InputBuffer::new(session::vad_of(&session)),
        logprobs: session::wants_logprobs(&session),
        session,
        faults,
        input: input_tx,
        data_channel: None,
        open: false,
        outbox: VecDeque::new(),
        speech_item: None,
        last_item_id: None,
        n_items: 0,
        dropped_mid_utterance: false,
        utterances: 0,
        network,
    };
    tokio::spawn(actor.run(input_rx, max_duration));
    Ok((handle, answer_sdp))
}

/// Decodes the Opus track into analysis frames for the actor.
async fn read_track(track: Arc<dyn TrackRemote>, input: mpsc::UnboundedSender<Input>) {
    let mut decoder = match opus::Decoder::new(48_000, opus::Channels::Mono) {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "emulator cannot create an Opus decoder");
            return;
        }
    };
    let mut cutter = FrameCutter::new(48_000);
    // 120 ms, the longest Opus packet.
    let mut pcm = vec![0.0f32; 5760];
    let mut last_sequence: Option<u16> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        if packet.payload.is_empty() {
            continue;
        }
        let sequence = packet.header.sequence_number;
        let mut frames = Vec::new();
        if let Some(last) = last_sequence {
            let step = sequence.wrapping_sub(last);
            if step == 0 || step > 0x8000 {
                continue; // duplicate or late: already concealed
            }
            // Conceal up to 10 lost packets so the session timeline keeps its length.
            for _ in 1..step.min(11) {
                if let Ok(n) = decoder.decode_float(&[], &mut pcm[..960], false) {
                    frames.extend(cutter.push(&pcm[..n]));
                }
            }
        }
        last_sequence = Some(sequence);
        match decoder.decode_float(&packet.payload, &mut pcm, false) {
            Ok(n) => frames.extend(cutter.push(&pcm[..n])),
            Err(err) => tracing::warn!(%err, "emulator could not decode an Opus packet"),
        }
        if !frames.is_empty() && input.send(Input::Frames(frames)).is_err() {
            break;
        }
    }
}

/// Reads a data channel's events into the actor.
async fn poll_data_channel(channel: Arc<dyn DataChannel>, input: mpsc::UnboundedSender<Input>) {
    if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open)) {
        let _ = input.send(Input::DataChannelOpen);
    }
    while let Some(event) = channel.poll().await {
        let sent = match event {
            DataChannelEvent::OnOpen => input.send(Input::DataChannelOpen),
            DataChannelEvent::OnMessage(message) => input.send(Input::ClientMessage(
                String::from_utf8_lossy(&message.data).into_owned(),
            )),
            DataChannelEvent::OnClose => break,
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
}

/// Owns a call's session state; all events leave through it, in order.
struct CallActor {
    call_id: String,
    record: Arc<Mutex<CallRecord>>,
    peer: Arc<dyn PeerConnection>,
    session: SessionConfig,
    buffer: InputBuffer,
    logprobs: bool,
    faults: Faults,
    input: mpsc::UnboundedSender<Input>,
    data_channel: Option<Arc<dyn DataChannel>>,
    open: bool,
    /// Events produced before the channel opened.
    outbox: VecDeque<String>,
    /// The item id announced by `speech_started`, used when speech stops.
    speech_item: Option<String>,
    last_item_id: Option<String>,
    n_items: u32,
    dropped_mid_utterance: bool,
    /// Utterances started so far.
    utterances: u32,
    /// The call's network, which the `network_down_*` faults cut.
    network: crate::peer::NetworkSwitch,
}

/// Whether the actor keeps running.
enum Flow {
    Continue,
    Stop,
}

impl CallActor {
    async fn run(mut self, mut input: mpsc::UnboundedReceiver<Input>, max_duration: Duration) {
        let expiry = tokio::time::sleep(max_duration);
        tokio::pin!(expiry);
        let drop_after = self.faults.drop_after_ms.map(Duration::from_millis);
        let drop_timer = async move {
            match drop_after {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(drop_timer);
        loop {
            tokio::select! {
                next = input.recv() => {
                    let Some(next) = next else { break };
                    if let Flow::Stop = self.handle(next).await {
                        break;
                    }
                }
                () = &mut expiry => {
                    let minutes = max_duration.as_secs_f64() / 60.0;
                    self.emit(error_event(
                        "invalid_request_error",
                        Some("session_expired"),
                        format!("Your session hit the maximum duration of {minutes} minutes."),
                        None,
                    ))
                    .await;
                    self.flush().await;
                    self.end(EndReason::Expired).await;
                    break;
                }
                () = &mut drop_timer => {
                    self.end(EndReason::Dropped).await;
                    break;
                }
            }
        }
        tracing::debug!(call_id = %self.call_id, "emulated call finished");
    }

    async fn end(&self, reason: EndReason) {
        end_call(&self.record, &self.peer, reason).await;
    }

    async fn handle(&mut self, input: Input) -> Flow {
        match input {
            Input::DataChannel(channel) => {
                let label = channel.label().await.unwrap_or_default();
                if label == EVENTS_CHANNEL_LABEL {
                    self.data_channel = Some(channel.clone());
                }
                // Every channel is polled, or its back-pressure would stall the connection.
                tokio::spawn(poll_data_channel(channel, self.input.clone()));
            }
            Input::DataChannelOpen => self.on_open().await,
            Input::ClientMessage(text) => self.on_client_message(&text).await,
            Input::Frames(frames) => return self.on_frames(frames).await,
            Input::Connection(state) => {
                if matches!(
                    state,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                ) {
                    self.end(EndReason::PeerClosed).await;
                    return Flow::Stop;
                }
            }
            Input::Stop => return Flow::Stop,
        }
        Flow::Continue
    }

    async fn on_open(&mut self) {
        if self.open || self.data_channel.is_none() {
            return;
        }
        self.open = true;
        let created = ServerEvent::SessionCreated(SessionEvent {
            event_id: new_id("event_"),
            session: self.session.clone(),
        });
        self.send_now(created.to_json()).await;
        if self.faults.malformed_event {
            let truncated =
                r#"{"type":"conversation.item.input_audio_transcription.delta","event_id":"event_"#;
            self.send_now(truncated.to_owned()).await;
        }
        if self.faults.unknown_event {
            let unknown = serde_json::json!({
                "type": "rate_limits.updated",
                "event_id": new_id("event_"),
                "rate_limits": [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60}]
            });
            self.send_now(unknown.to_string()).await;
        }
        while let Some(queued) = self.outbox.pop_front() {
            self.send_now(queued).await;
        }
    }

    /// Waits (at most a second) until SCTP has delivered what was sent, so a last event is
    /// not lost when the emulator closes the connection on purpose.
    async fn flush(&self) {
        let Some(channel) = &self.data_channel else {
            return;
        };
        for _ in 0..100 {
            if channel.outstanding_bytes().await.unwrap_or(0) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn send_now(&self, text: String) {
        if let Some(channel) = &self.data_channel
            && let Err(err) = channel.send_text(&text).await
        {
            tracing::debug!(%err, "emulator could not send an event");
        }
    }

    async fn emit(&mut self, event: ServerEvent) {
        let text = event.to_json();
        if self.open {
            self.send_now(text).await;
        } else {
            self.outbox.push_back(text);
        }
    }

    async fn on_frames(&mut self, frames: Vec<FrameInfo>) -> Flow {
        lock(&self.record).audio_ms += frames.len() as u64 * FRAME_MS;
        for frame in frames {
            match self.buffer.push(frame) {
                Some(BufferEvent::SpeechStarted { audio_start_ms }) => {
                    let item_id = new_id("item_");
                    self.speech_item = Some(item_id.clone());
                    self.emit(ServerEvent::SpeechStarted(SpeechStarted {
                        event_id: new_id("event_"),
                        item_id,
                        audio_start_ms,
                    }))
                    .await;
                    if self.faults.network_down_at_utterance == Some(self.utterances) {
                        self.cut_network().await;
                    }
                    self.utterances += 1;
                    if self.faults.drop_mid_utterance && !self.dropped_mid_utterance {
                        self.dropped_mid_utterance = true;
                        // The client sees the utterance begin, then loses the connection.
                        self.flush().await;
                        self.end(EndReason::Dropped).await;
                        return Flow::Stop;
                    }
                }
                Some(BufferEvent::SpeechStopped {
                    audio_end_ms,
                    frames,
                }) => {
                    let item_id = self.speech_item.take().unwrap_or_else(|| new_id("item_"));
                    self.emit(ServerEvent::SpeechStopped(SpeechStopped {
                        event_id: new_id("event_"),
                        item_id: item_id.clone(),
                        audio_end_ms,
                    }))
                    .await;
                    self.commit_item(item_id, &frames).await;
                }
                None => {}
            }
        }
        Flow::Continue
    }

    /// The `network_down_*` faults: the client saw the utterance begin; now nothing gets
    /// through either way, for good or for `network_down_for_ms`.
    async fn cut_network(&self) {
        self.flush().await;
        self.network.set_down(true);
        lock(&self.record).network_cut_at_ms = Some(super::unix_now_ms());
        if let Some(ms) = self.faults.network_down_for_ms {
            let network = self.network.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                network.set_down(false);
            });
        }
    }

    async fn on_client_message(&mut self, text: &str) {
        let event = match ClientEvent::from_json(text) {
            Ok(event) => event,
            Err(err) => {
                let code = match err {
                    WireError::NotJson(_) => "invalid_json",
                    WireError::MissingType | WireError::InvalidEvent { .. } => "invalid_event",
                };
                lock(&self.record)
                    .client_events
                    .push("<invalid>".to_owned());
                self.emit(error_event(
                    "invalid_request_error",
                    Some(code),
                    err.to_string(),
                    None,
                ))
                .await;
                return;
            }
        };
        let event_type = event.event_type().to_owned();
        lock(&self.record).client_events.push(event_type.clone());
        let client_event_id = event.event_id().map(str::to_owned);
        match event {
            ClientEvent::Commit { .. } => match self.buffer.commit() {
                Ok(frames) => {
                    let item_id = self.speech_item.take().unwrap_or_else(|| new_id("item_"));
                    self.commit_item(item_id, &frames).await;
                }
                Err(too_small) => {
                    let message = format!(
                        "Error committing input audio buffer: buffer too small. Expected at least {}ms of audio, but buffer only has {:.2}ms of audio.",
                        audio::MIN_COMMIT_MS,
                        too_small.buffered_ms as f64
                    );
                    self.emit(error_event(
                        "invalid_request_error",
                        Some("input_audio_buffer_commit_empty"),
                        message,
                        client_event_id,
                    ))
                    .await;
                }
            },
            ClientEvent::Clear { .. } => {
                self.buffer.clear();
                self.speech_item = None;
                self.emit(ServerEvent::Cleared(InputAudioBufferCleared {
                    event_id: new_id("event_"),
                }))
                .await;
            }
            ClientEvent::SessionUpdate(update) => {
                match session::merge_update(&self.session, &update.session) {
                    Ok(merged) => {
                        self.buffer.set_vad(session::vad_of(&merged));
                        self.logprobs = session::wants_logprobs(&merged);
                        self.session = merged;
                        let updated = ServerEvent::SessionUpdated(SessionEvent {
                            event_id: new_id("event_"),
                            session: self.session.clone(),
                        });
                        self.emit(updated).await;
                    }
                    Err(ApiErrorResponse { error }) => {
                        self.emit(ServerEvent::Error(ErrorEvent {
                            event_id: new_id("event_"),
                            error: EventError {
                                kind: error.kind,
                                code: error.code,
                                message: error.message,
                                param: error.param,
                                event_id: client_event_id,
                            },
                        }))
                        .await;
                    }
                }
            }
            ClientEvent::Append { .. } => {
                self.emit(error_event(
                    "invalid_request_error",
                    Some("unsupported_event"),
                    "input_audio_buffer.append is not used over WebRTC: send audio on the media track."
                        .to_owned(),
                    client_event_id,
                ))
                .await;
            }
            ClientEvent::Unknown(_) => {
                let message = format!(
                    "Invalid value: '{event_type}'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate', 'conversation.item.delete', 'response.create', 'response.cancel' and 'output_audio_buffer.clear'."
                );
                let mut event = error_event(
                    "invalid_request_error",
                    Some("invalid_value"),
                    message,
                    client_event_id,
                );
                if let ServerEvent::Error(error) = &mut event {
                    error.error.param = Some("type".to_owned());
                }
                self.emit(event).await;
            }
        }
    }

    /// Commits an item and "transcribes" it: deltas word by word, then completed (or failed).
    async fn commit_item(&mut self, item_id: String, frames: &[FrameInfo]) {
        let previous_item_id = self.last_item_id.replace(item_id.clone());
        self.emit(ServerEvent::Committed(Committed {
            event_id: new_id("event_"),
            previous_item_id: previous_item_id.clone(),
            item_id: item_id.clone(),
        }))
        .await;
        let index = self.n_items;
        self.n_items += 1;
        let transcript = audio::transcript(frames);
        let mut record = ItemRecord {
            item_id: item_id.clone(),
            previous_item_id,
            transcript: transcript.clone(),
            outcome: "completed",
        };
        let Some(model) = self.session.transcription_model().map(str::to_owned) else {
            // No transcription configured: the item exists, nobody transcribes it.
            record.outcome = "untranscribed";
            lock(&self.record).items.push(record);
            return;
        };
        if self.faults.fail_items.contains(&index) {
            record.outcome = "failed";
            lock(&self.record).items.push(record);
            self.emit(ServerEvent::TranscriptionFailed(TranscriptionFailed {
                event_id: new_id("event_"),
                item_id,
                content_index: 0,
                error: EventError {
                    kind: "transcription_error".to_owned(),
                    code: Some("audio_unintelligible".to_owned()),
                    message: "The audio could not be transcribed.".to_owned(),
                    param: None,
                    event_id: None,
                },
            }))
            .await;
            return;
        }
        let words: Vec<&str> = transcript.split(' ').filter(|w| !w.is_empty()).collect();
        for (idx, word) in words.iter().enumerate() {
            let delta = if idx + 1 < words.len() {
                format!("{word} ")
            } else {
                (*word).to_owned()
            };
            let logprobs = self.logprobs.then(|| vec![log_prob(&delta)]);
            self.emit(ServerEvent::TranscriptionDelta(TranscriptionDelta {
                event_id: new_id("event_"),
                item_id: item_id.clone(),
                content_index: 0,
                delta,
                logprobs,
                obfuscation: None,
            }))
            .await;
        }
        if model == "gpt-4o-transcribe-diarize" && !transcript.is_empty() {
            let seconds = frames.len() as f64 * FRAME_MS as f64 / 1000.0;
            self.emit(ServerEvent::TranscriptionSegment(TranscriptionSegment {
                event_id: new_id("event_"),
                item_id: item_id.clone(),
                content_index: 0,
                text: transcript.clone(),
                id: format!("seg_{:04}", index + 1),
                speaker: "A".to_owned(),
                start: 0.0,
                end: seconds,
            }))
            .await;
        }
        if self.faults.withhold_completed.contains(&index) {
            record.outcome = "withheld";
            lock(&self.record).items.push(record);
            return;
        }
        lock(&self.record).items.push(record);
        let logprobs = self
            .logprobs
            .then(|| words.iter().map(|w| log_prob(w)).collect());
        let usage = usage_for(&model, frames.len() as u64 * FRAME_MS, words.len() as u64);
        self.emit(ServerEvent::TranscriptionCompleted(
            TranscriptionCompleted {
                event_id: new_id("event_"),
                item_id,
                content_index: 0,
                transcript,
                languages: None,
                logprobs,
                usage: Some(usage),
            },
        ))
        .await;
    }
}

fn error_event(
    kind: &str,
    code: Option<&str>,
    message: String,
    event_id: Option<String>,
) -> ServerEvent {
    ServerEvent::Error(ErrorEvent {
        event_id: new_id("event_"),
        error: EventError {
            kind: kind.to_owned(),
            code: code.map(str::to_owned),
            message,
            param: None,
            event_id,
        },
    })
}

/// The emulator is sure of every key it hears.
fn log_prob(token: &str) -> LogProb {
    LogProb {
        token: token.to_owned(),
        logprob: -0.0001,
        bytes: token.as_bytes().to_vec(),
    }
}

/// Usage as OpenAI bills it: tokens for the gpt-4o models, audio seconds for the others.
pub(crate) fn usage_for(model: &str, audio_ms: u64, n_words: u64) -> Usage {
    if model.starts_with("gpt-4o") {
        // About ten audio tokens per second of speech.
        let audio_tokens = audio_ms.div_ceil(100);
        Usage::Tokens {
            input_tokens: audio_tokens,
            output_tokens: n_words,
            total_tokens: audio_tokens + n_words,
            input_token_details: Some(UsageInputDetails {
                text_tokens: 0,
                audio_tokens,
            }),
        }
    } else {
        Usage::Duration {
            seconds: audio_ms as f64 / 1000.0,
        }
    }
}
