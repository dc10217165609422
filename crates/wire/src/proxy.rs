//! Hark's own SDP proxy API (`POST /v1/sessions`), shared by the proxy and the desktop client.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::realtime::TurnMode;

/// `POST /v1/sessions` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The WebRTC offer (non-trickle).
    pub sdp: String,
    /// The interview being recorded.
    pub interview_id: Uuid,
    /// `microphone` or `system`.
    pub source: String,
    /// Requested language (ISO-639-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Requested vocabulary prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// `POST /v1/sessions` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The admitted call; use it to hang up.
    pub session_id: Uuid,
    /// OpenAI's call id.
    pub call_id: String,
    /// OpenAI's SDP answer.
    pub sdp: String,
    /// The transcription model.
    pub model: String,
    /// `server_vad` or `manual` (the client commits utterances).
    pub turn_detection: TurnMode,
    /// Unix seconds when the proxy hangs the call up.
    pub expires_at: u64,
    /// The longest the call may last.
    pub max_seconds: u32,
}
