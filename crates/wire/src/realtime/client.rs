//! Events the client sends on the `oai-events` data channel.

use serde::{Deserialize, Deserializer, Serialize};

use super::{SessionConfig, payload, split_type};

/// A client event. Unknown types decode to [`ClientEvent::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    /// Change the session's configuration (language, prompt, turn detection, …).
    #[serde(rename = "session.update")]
    SessionUpdate(Box<SessionUpdate>),
    /// Make the buffered audio an item and transcribe it (manual turn mode).
    #[serde(rename = "input_audio_buffer.commit")]
    Commit {
        /// Optional client id, echoed in errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// Drop the buffered audio.
    #[serde(rename = "input_audio_buffer.clear")]
    Clear {
        /// Optional client id, echoed in errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// Base64 PCM appended to the buffer (WebSocket transport only; WebRTC sends a track).
    #[serde(rename = "input_audio_buffer.append")]
    Append {
        /// Optional client id, echoed in errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Base64-encoded audio.
        audio: String,
    },
    /// An event type this crate does not know, kept verbatim.
    #[serde(untagged)]
    Unknown(serde_json::Value),
}

/// `session.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUpdate {
    /// Optional client id, echoed in errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Only the fields present are changed.
    pub session: SessionConfig,
}

/// The payload of commit / clear, which only carry an optional id.
#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    event_id: Option<String>,
}

/// The payload of append.
#[derive(Deserialize)]
struct AppendPayload {
    #[serde(default)]
    event_id: Option<String>,
    audio: String,
}

impl ClientEvent {
    /// Decodes one data-channel message (tolerant in the same way as `ServerEvent::from_json`).
    pub fn from_json(text: &str) -> crate::Result<ClientEvent> {
        let (event_type, value) = split_type(text)?;
        let event = match event_type.as_str() {
            "session.update" => ClientEvent::SessionUpdate(Box::new(payload(&event_type, value)?)),
            "input_audio_buffer.commit" => {
                let IdOnly { event_id } = payload(&event_type, value)?;
                ClientEvent::Commit { event_id }
            }
            "input_audio_buffer.clear" => {
                let IdOnly { event_id } = payload(&event_type, value)?;
                ClientEvent::Clear { event_id }
            }
            "input_audio_buffer.append" => {
                let AppendPayload { event_id, audio } = payload(&event_type, value)?;
                ClientEvent::Append { event_id, audio }
            }
            _ => ClientEvent::Unknown(value),
        };
        Ok(event)
    }

    /// A `session.update` carrying `session`.
    pub fn session_update(event_id: Option<String>, session: SessionConfig) -> ClientEvent {
        ClientEvent::SessionUpdate(Box::new(SessionUpdate { event_id, session }))
    }

    /// Encodes the event as one data-channel message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The event's `type` string.
    pub fn event_type(&self) -> &str {
        match self {
            ClientEvent::SessionUpdate(_) => "session.update",
            ClientEvent::Commit { .. } => "input_audio_buffer.commit",
            ClientEvent::Clear { .. } => "input_audio_buffer.clear",
            ClientEvent::Append { .. } => "input_audio_buffer.append",
            ClientEvent::Unknown(value) => value
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
        }
    }

    /// The client-chosen `event_id`, if any.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            ClientEvent::SessionUpdate(update) => update.event_id.as_deref(),
            ClientEvent::Commit { event_id }
            | ClientEvent::Clear { event_id }
            | ClientEvent::Append { event_id, .. } => event_id.as_deref(),
            ClientEvent::Unknown(value) => {
                value.get("event_id").and_then(serde_json::Value::as_str)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ClientEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        ClientEvent::from_json(&value.to_string()).map_err(serde::de::Error::custom)
    }
}
