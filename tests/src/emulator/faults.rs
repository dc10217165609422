//! Fault knobs: the ways a test can make the emulated OpenAI misbehave.

use serde::{Deserialize, Serialize};

/// Faults for the whole server, or for the next call only (see the emulator README).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Refuse call creation (and client secrets and batch transcription) with this status:
    /// 401, 429, 500 or 503, with OpenAI's error JSON.
    pub reject_status: Option<u16>,
    /// `Retry-After` seconds sent with a 429 or 503 rejection (default 1).
    pub retry_after_secs: Option<u64>,
    /// Wait this long before answering a call.
    pub answer_delay_ms: u64,
    /// Close the peer connection this long after the call is created.
    pub drop_after_ms: Option<u64>,
    /// Close the peer connection as soon as the first utterance starts.
    pub drop_mid_utterance: bool,
    /// Cut the call's network as this utterance (0-based) starts, as server VAD finds it (not
    /// with manual turns): every packet either way is lost, so ICE consent fails and the client
    /// sees the connection go `disconnected`.
    pub network_down_at_utterance: Option<u32>,
    /// Bring the network back this long after it was cut (default: it stays down, and the
    /// call ends once the emulator's side of the connection fails).
    pub network_down_for_ms: Option<u64>,
    /// Send one truncated, non-JSON event right after `session.created`.
    pub malformed_event: bool,
    /// Send one well-formed event of a type the client has never seen after `session.created`.
    pub unknown_event: bool,
    /// Items (0-based, in commit order) whose `.completed` never comes (deltas still do).
    pub withhold_completed: Vec<u32>,
    /// Items (0-based) whose transcription fails with `.failed`.
    pub fail_items: Vec<u32>,
    /// End the call after this long instead of the server's maximum duration.
    pub max_call_ms: Option<u64>,
}

impl Faults {
    /// Checks the values a caller can get wrong, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(status) = self.reject_status
            && ![401, 429, 500, 503].contains(&status)
        {
            return Err(format!(
                "reject_status {status} is not one the emulator fakes; use 401, 429, 500 or 503"
            ));
        }
        if self.network_down_for_ms.is_some() && self.network_down_at_utterance.is_none() {
            return Err(
                "network_down_for_ms needs network_down_at_utterance: the utterance whose start cuts the network"
                    .into(),
            );
        }
        Ok(())
    }
}
