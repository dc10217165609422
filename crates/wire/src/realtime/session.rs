//! Session configuration: what a client secret, a call's `session` part and `session.update`
//! carry, and what `session.created` / `session.updated` report back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every transcription model in OpenAI's spec (`AudioTranscription.model`).
pub const TRANSCRIPTION_MODELS: &[&str] = &[
    "whisper-1",
    "gpt-transcribe",
    "gpt-live-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe",
    "gpt-4o-transcribe-diarize",
    "gpt-realtime-whisper",
];

/// Models that take no turn detection: the client decides where an utterance ends and sends
/// `input_audio_buffer.commit` itself.
pub const MANUAL_TURN_MODELS: &[&str] = &["gpt-live-transcribe", "gpt-realtime-whisper"];

/// Who decides where an utterance ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnMode {
    /// The server's voice-activity detection segments the audio and commits by itself.
    ServerVad,
    /// The client runs its own voice-activity detection and commits each utterance.
    Manual,
}

impl TurnMode {
    /// The turn mode a transcription model needs.
    pub fn for_model(model: &str) -> TurnMode {
        if MANUAL_TURN_MODELS.contains(&model) {
            TurnMode::Manual
        } else {
            TurnMode::ServerVad
        }
    }
}

/// A session of either kind, discriminated by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SessionConfig {
    /// `"type": "transcription"`: input transcription only, no model responses.
    #[serde(rename = "transcription")]
    Transcription(TranscriptionSession),
    /// `"type": "realtime"`: a speech-to-speech session (we only use its input transcription).
    #[serde(rename = "realtime")]
    Realtime(RealtimeSession),
}

impl SessionConfig {
    /// The input-audio part of the session, if it has one.
    pub fn input_audio(&self) -> Option<&InputAudio> {
        let audio = match self {
            SessionConfig::Transcription(session) => session.audio.as_ref(),
            SessionConfig::Realtime(session) => session.audio.as_ref(),
        };
        audio.and_then(|audio| audio.input.as_ref())
    }

    /// Mutable access to the input-audio part, created empty when missing.
    pub fn input_audio_mut(&mut self) -> &mut InputAudio {
        let audio = match self {
            SessionConfig::Transcription(session) => &mut session.audio,
            SessionConfig::Realtime(session) => &mut session.audio,
        };
        audio
            .get_or_insert_with(SessionAudio::default)
            .input
            .get_or_insert_with(InputAudio::default)
    }

    /// The transcription model, if one is configured.
    pub fn transcription_model(&self) -> Option<&str> {
        self.input_audio()?.transcription.as_ref()?.model.as_deref()
    }
}

/// A transcription session (`RealtimeTranscriptionSessionCreateRequestGA` / `…ResponseGA`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionSession {
    /// `sess_…`, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `realtime.transcription_session` in responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Unix seconds after which the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Input audio configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<SessionAudio>,
    /// Extra outputs, e.g. `item.input_audio_transcription.logprobs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Fields this crate does not model, kept so nothing is lost on a round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A realtime (speech-to-speech) session; only the parts Hark reads are typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealtimeSession {
    /// `sess_…`, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `realtime.session` in responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The realtime model, e.g. `gpt-realtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Unix seconds after which the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Input and output audio configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<SessionAudio>,
    /// Extra outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Fields this crate does not model (instructions, tools, …), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `session.audio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionAudio {
    /// Input audio: format, transcription, noise reduction, turn detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputAudio>,
    /// Output audio of realtime sessions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `session.audio.input`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputAudio {
    /// The audio format (for WebRTC the track's codec decides; this matters for WebSocket use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormat>,
    /// Transcription model, language and prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<TranscriptionConfig>,
    /// Absent: unchanged / default; `null`: off.
    #[serde(
        default,
        deserialize_with = "super::nullable::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub noise_reduction: Option<Option<NoiseReduction>>,
    /// Absent: the server's default (server VAD); `null`: off, the client commits.
    #[serde(
        default,
        deserialize_with = "super::nullable::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub turn_detection: Option<Option<TurnDetection>>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `RealtimeAudioFormats`, or the older bare string (`"pcm16"`) some examples still show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AudioFormat {
    /// `{"type": "audio/pcm", "rate": 24000}` and friends.
    Typed {
        /// `audio/pcm`, `audio/pcmu` or `audio/pcma`.
        #[serde(rename = "type")]
        mime: String,
        /// Sample rate, only for `audio/pcm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<u32>,
    },
    /// A legacy format name such as `pcm16`.
    Named(String),
}

/// `AudioTranscription`: which model transcribes, and hints for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionConfig {
    /// One of [`TRANSCRIPTION_MODELS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// ISO-639-1 language of the audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Possible languages (newest models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    /// Words or phrases to guide transcription (newest models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    /// Free-text vocabulary hint: names, role, jargon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Latency/accuracy trade-off of `gpt-realtime-whisper`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `noise_reduction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseReduction {
    /// `near_field` or `far_field`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `RealtimeTurnDetection` (when not `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TurnDetection {
    /// Volume-based voice-activity detection on the server.
    #[serde(rename = "server_vad")]
    ServerVad(ServerVad),
    /// Model-based end-of-turn detection on the server.
    #[serde(rename = "semantic_vad")]
    SemanticVad(SemanticVad),
}

/// Server VAD parameters; `None` means the documented default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerVad {
    /// Activation threshold, 0.0–1.0 (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Audio kept before detected speech, ms (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_padding_ms: Option<u32>,
    /// Silence that ends an utterance, ms (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_duration_ms: Option<u32>,
    /// Idle timeout for model responses, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u32>,
    /// Whether a response is created at speech end (realtime sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_response: Option<bool>,
    /// Whether speech interrupts a response (realtime sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_response: Option<bool>,
}

impl ServerVad {
    /// The documented default threshold.
    pub const DEFAULT_THRESHOLD: f64 = 0.5;
    /// The documented default prefix padding.
    pub const DEFAULT_PREFIX_PADDING_MS: u32 = 300;
    /// The documented default silence duration.
    pub const DEFAULT_SILENCE_DURATION_MS: u32 = 500;

    /// The server's defaults, spelled out.
    pub fn defaults() -> ServerVad {
        ServerVad {
            threshold: Some(Self::DEFAULT_THRESHOLD),
            prefix_padding_ms: Some(Self::DEFAULT_PREFIX_PADDING_MS),
            silence_duration_ms: Some(Self::DEFAULT_SILENCE_DURATION_MS),
            ..ServerVad::default()
        }
    }

    /// Threshold with the default applied.
    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(Self::DEFAULT_THRESHOLD)
    }

    /// Prefix padding with the default applied.
    pub fn prefix_padding_ms(&self) -> u32 {
        self.prefix_padding_ms
            .unwrap_or(Self::DEFAULT_PREFIX_PADDING_MS)
    }

    /// Silence duration with the default applied.
    pub fn silence_duration_ms(&self) -> u32 {
        self.silence_duration_ms
            .unwrap_or(Self::DEFAULT_SILENCE_DURATION_MS)
    }
}

/// Semantic VAD parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SemanticVad {
    /// `low`, `medium`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eagerness: Option<String>,
    /// Whether a response is created at speech end (realtime sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_response: Option<bool>,
    /// Whether speech interrupts a response (realtime sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_response: Option<bool>,
}
