//! OpenAI Realtime API shapes: session configuration and the events on the `oai-events` channel.

mod client;
mod server;
mod session;

pub use client::{ClientEvent, SessionUpdate};
pub use server::{
    Committed, ErrorEvent, EventError, InputAudioBufferCleared, LogProb, ServerEvent, SessionEvent,
    SpeechStarted, SpeechStopped, TranscriptionCompleted, TranscriptionDelta, TranscriptionFailed,
    TranscriptionLanguage, TranscriptionSegment, Usage, UsageInputDetails,
};
pub use session::{
    AudioFormat, InputAudio, MANUAL_TURN_MODELS, NoiseReduction, RealtimeSession, SemanticVad,
    ServerVad, SessionAudio, SessionConfig, TRANSCRIPTION_MODELS, TranscriptionConfig,
    TranscriptionSession, TurnDetection, TurnMode,
};

/// The label of the data channel OpenAI reads and writes events on.
pub const EVENTS_CHANNEL_LABEL: &str = "oai-events";

/// Decodes a JSON object whose `type` field chooses the variant, for the event enums.
///
/// Returns the type string and the parsed value, or the error that says why it is not an event.
fn split_type(text: &str) -> crate::Result<(String, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(crate::WireError::NotJson)?;
    let event_type = value
        .get("type")
        .and_then(serde_json::Value::as_str)
        .ok_or(crate::WireError::MissingType)?
        .to_owned();
    Ok((event_type, value))
}

/// Deserialises one known event's payload, naming the event type in the error.
fn payload<T: serde::de::DeserializeOwned>(
    event_type: &str,
    value: serde_json::Value,
) -> crate::Result<T> {
    serde_json::from_value(value).map_err(|source| crate::WireError::InvalidEvent {
        event_type: event_type.to_owned(),
        source,
    })
}

/// Turns an `Option<Option<T>>` field into "absent", "null" or a value, so that
/// `"turn_detection": null` (off) differs from no `turn_detection` at all (the default).
mod nullable {
    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests;
