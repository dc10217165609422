//! Events the server sends on the `oai-events` data channel, with a tolerant decoder.

use serde::{Deserialize, Deserializer, Serialize};

use super::{SessionConfig, payload, split_type};

/// A server event. Unknown types decode to [`ServerEvent::Unknown`] with the raw JSON kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    /// First event of every session, with its effective configuration.
    #[serde(rename = "session.created")]
    SessionCreated(SessionEvent),
    /// Answer to `session.update`, with the full effective configuration.
    #[serde(rename = "session.updated")]
    SessionUpdated(SessionEvent),
    /// Server VAD detected the start of speech.
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted(SpeechStarted),
    /// Server VAD detected the end of speech.
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped(SpeechStopped),
    /// The input buffer became an item (by server VAD or a client commit).
    #[serde(rename = "input_audio_buffer.committed")]
    Committed(Committed),
    /// The input buffer was cleared by the client.
    #[serde(rename = "input_audio_buffer.cleared")]
    Cleared(InputAudioBufferCleared),
    /// Partial transcription text for an item.
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    TranscriptionDelta(TranscriptionDelta),
    /// Final transcription text for an item.
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    TranscriptionCompleted(TranscriptionCompleted),
    /// A diarized segment of an item (diarize model).
    #[serde(rename = "conversation.item.input_audio_transcription.segment")]
    TranscriptionSegment(TranscriptionSegment),
    /// Transcription of an item failed.
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    TranscriptionFailed(TranscriptionFailed),
    /// An error; most leave the session open.
    #[serde(rename = "error")]
    Error(ErrorEvent),
    /// An event type this crate does not know, kept verbatim.
    #[serde(untagged)]
    Unknown(serde_json::Value),
}

impl ServerEvent {
    /// Decodes one data-channel message.
    ///
    /// Unknown event types and extra fields are accepted; a known type with fields that do not
    /// match the spec is an error naming the event and the field.
    pub fn from_json(text: &str) -> crate::Result<ServerEvent> {
        let (event_type, value) = split_type(text)?;
        let event = match event_type.as_str() {
            "session.created" => ServerEvent::SessionCreated(payload(&event_type, value)?),
            "session.updated" => ServerEvent::SessionUpdated(payload(&event_type, value)?),
            "input_audio_buffer.speech_started" => {
                ServerEvent::SpeechStarted(payload(&event_type, value)?)
            }
            "input_audio_buffer.speech_stopped" => {
                ServerEvent::SpeechStopped(payload(&event_type, value)?)
            }
            "input_audio_buffer.committed" => ServerEvent::Committed(payload(&event_type, value)?),
            "input_audio_buffer.cleared" => ServerEvent::Cleared(payload(&event_type, value)?),
            "conversation.item.input_audio_transcription.delta" => {
                ServerEvent::TranscriptionDelta(payload(&event_type, value)?)
            }
            "conversation.item.input_audio_transcription.completed" => {
                ServerEvent::TranscriptionCompleted(payload(&event_type, value)?)
            }
            "conversation.item.input_audio_transcription.segment" => {
                ServerEvent::TranscriptionSegment(payload(&event_type, value)?)
            }
            "conversation.item.input_audio_transcription.failed" => {
                ServerEvent::TranscriptionFailed(payload(&event_type, value)?)
            }
            "error" => ServerEvent::Error(payload(&event_type, value)?),
            _ => ServerEvent::Unknown(value),
        };
        Ok(event)
    }

    /// Encodes the event as one data-channel message.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The event's `type` string.
    pub fn event_type(&self) -> &str {
        match self {
            ServerEvent::SessionCreated(_) => "session.created",
            ServerEvent::SessionUpdated(_) => "session.updated",
            ServerEvent::SpeechStarted(_) => "input_audio_buffer.speech_started",
            ServerEvent::SpeechStopped(_) => "input_audio_buffer.speech_stopped",
            ServerEvent::Committed(_) => "input_audio_buffer.committed",
            ServerEvent::Cleared(_) => "input_audio_buffer.cleared",
            ServerEvent::TranscriptionDelta(_) => {
                "conversation.item.input_audio_transcription.delta"
            }
            ServerEvent::TranscriptionCompleted(_) => {
                "conversation.item.input_audio_transcription.completed"
            }
            ServerEvent::TranscriptionSegment(_) => {
                "conversation.item.input_audio_transcription.segment"
            }
            ServerEvent::TranscriptionFailed(_) => {
                "conversation.item.input_audio_transcription.failed"
            }
            ServerEvent::Error(_) => "error",
            ServerEvent::Unknown(value) => value
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
        }
    }
}

impl<'de> Deserialize<'de> for ServerEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        ServerEvent::from_json(&value.to_string()).map_err(serde::de::Error::custom)
    }
}

/// `session.created` / `session.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// Unique id of this server event.
    pub event_id: String,
    /// The effective session configuration.
    pub session: SessionConfig,
}

/// `input_audio_buffer.speech_started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechStarted {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item that will be created when speech stops.
    pub item_id: String,
    /// Start of speech (including prefix padding) on the session's audio timeline, ms.
    pub audio_start_ms: u64,
}

/// `input_audio_buffer.speech_stopped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechStopped {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item created from this speech.
    pub item_id: String,
    /// End of speech (including the silence duration) on the session's audio timeline, ms.
    pub audio_end_ms: u64,
}

/// `input_audio_buffer.committed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Committed {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item after which this one goes; `null` for the first item.
    #[serde(default)]
    pub previous_item_id: Option<String>,
    /// The new item.
    pub item_id: String,
}

/// `input_audio_buffer.cleared`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputAudioBufferCleared {
    /// Unique id of this server event.
    pub event_id: String,
}

/// `conversation.item.input_audio_transcription.delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionDelta {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item being transcribed.
    pub item_id: String,
    /// Content part index within the item.
    #[serde(default)]
    pub content_index: u32,
    /// The new text.
    #[serde(default)]
    pub delta: String,
    /// Token log probabilities, when requested with `include`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<LogProb>>,
    /// Padding OpenAI adds against length side channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obfuscation: Option<String>,
}

/// `conversation.item.input_audio_transcription.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionCompleted {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item transcribed.
    pub item_id: String,
    /// Content part index within the item.
    pub content_index: u32,
    /// The final text.
    pub transcript: String,
    /// Detected languages (`gpt-transcribe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<TranscriptionLanguage>>,
    /// Token log probabilities, when requested with `include`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<LogProb>>,
    /// What this transcription is billed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `conversation.item.input_audio_transcription.segment` (diarize model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionSegment {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item the segment belongs to.
    pub item_id: String,
    /// Content part index within the item.
    pub content_index: u32,
    /// Segment text.
    pub text: String,
    /// Segment id.
    pub id: String,
    /// Speaker label.
    pub speaker: String,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// `conversation.item.input_audio_transcription.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionFailed {
    /// Unique id of this server event.
    pub event_id: String,
    /// The item whose transcription failed.
    pub item_id: String,
    /// Content part index within the item.
    pub content_index: u32,
    /// Why.
    pub error: EventError,
}

/// `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// Unique id of this server event.
    pub event_id: String,
    /// What went wrong.
    pub error: EventError,
}

/// The `error` object of `error` and `…transcription.failed` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventError {
    /// e.g. `invalid_request_error`, `server_error`, `transcription_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Machine-readable code, if any.
    #[serde(default)]
    pub code: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The parameter at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// The client event that caused it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `LogProbProperties`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogProb {
    /// The token.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its bytes.
    #[serde(default)]
    pub bytes: Vec<u8>,
}

/// `TranscriptionLanguage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionLanguage {
    /// Language code.
    pub code: String,
}

/// Transcription usage: by tokens or by audio duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Usage {
    /// `TranscriptTextUsageTokens`.
    Tokens {
        /// Input tokens billed.
        input_tokens: u64,
        /// Output tokens generated.
        output_tokens: u64,
        /// Input plus output.
        total_tokens: u64,
        /// Split of the input tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_token_details: Option<UsageInputDetails>,
    },
    /// `TranscriptTextUsageDuration`.
    Duration {
        /// Audio seconds billed.
        seconds: f64,
    },
}

/// `input_token_details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageInputDetails {
    /// Text tokens (the prompt).
    #[serde(default)]
    pub text_tokens: u64,
    /// Audio tokens.
    #[serde(default)]
    pub audio_tokens: u64,
}
