//! The error type of the wire crate: what can go wrong when decoding a message.

/// Result alias for this crate.
pub type Result<T, E = WireError> = std::result::Result<T, E>;

/// A message that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The text is not JSON at all.
    #[error("realtime message is not valid JSON ({0}); the peer sent a corrupt or truncated event")]
    NotJson(#[source] serde_json::Error),
    /// The JSON has no string `type` field, so it cannot be an OpenAI event.
    #[error("realtime message has no \"type\" field; every OpenAI Realtime event names its type")]
    MissingType,
    /// A known event type whose fields do not match OpenAI's documented shape.
    #[error("realtime event `{event_type}` does not match the documented shape: {source}")]
    InvalidEvent {
        /// The `type` of the offending event.
        event_type: String,
        /// What serde found wrong (names the field).
        #[source]
        source: serde_json::Error,
    },
}
