//! REST bodies around a realtime call: client secrets, call creation, OpenAI's error JSON, and
//! batch transcription results.

use serde::{Deserialize, Serialize};

use crate::realtime::{LogProb, SessionConfig, TranscriptionLanguage, Usage};

/// `POST /v1/realtime/client_secrets` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSecretRequest {
    /// When the secret stops being usable for new calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<ExpiresAfter>,
    /// The session every call made with this secret gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionConfig>,
}

/// `expires_after` of a client-secret request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiresAfter {
    /// Only `created_at` exists.
    #[serde(default = "ExpiresAfter::default_anchor")]
    pub anchor: String,
    /// 10–7200 seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
}

impl ExpiresAfter {
    /// The smallest allowed lifetime.
    pub const MIN_SECONDS: i64 = 10;
    /// The largest allowed lifetime.
    pub const MAX_SECONDS: i64 = 7200;
    /// The lifetime when none is given.
    pub const DEFAULT_SECONDS: i64 = 600;

    fn default_anchor() -> String {
        "created_at".to_owned()
    }

    /// A lifetime counted from creation.
    pub fn seconds(seconds: i64) -> ExpiresAfter {
        ExpiresAfter {
            anchor: Self::default_anchor(),
            seconds: Some(seconds),
        }
    }
}

/// `POST /v1/realtime/client_secrets` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSecretResponse {
    /// The ephemeral key, `ek_…`.
    pub value: String,
    /// Unix seconds after which the key cannot create calls.
    pub expires_at: i64,
    /// The effective session.
    pub session: SessionConfig,
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorResponse {
    /// The error.
    pub error: ApiError,
}

/// The inner object of [`ApiErrorResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Human-readable message.
    pub message: String,
    /// e.g. `invalid_request_error`, `server_error`, `requests`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The parameter at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// Machine-readable code, e.g. `invalid_api_key`, `rate_limit_exceeded`.
    #[serde(default)]
    pub code: Option<String>,
}

impl ApiErrorResponse {
    /// Builds an error body.
    pub fn new(kind: &str, code: Option<&str>, message: impl Into<String>) -> ApiErrorResponse {
        ApiErrorResponse {
            error: ApiError {
                message: message.into(),
                kind: kind.to_owned(),
                param: None,
                code: code.map(str::to_owned),
            },
        }
    }

    /// Names the offending parameter.
    pub fn with_param(mut self, param: impl Into<String>) -> ApiErrorResponse {
        self.error.param = Some(param.into());
        self
    }
}

/// The path prefix of a call's `Location` header.
pub const CALLS_LOCATION_PREFIX: &str = "/v1/realtime/calls/";

/// Reads the call id from the `Location` header of a created call
/// (`/v1/realtime/calls/rtc_…`; an absolute URL or Azure's `/openai/v1/…` prefix also work).
pub fn call_id_from_location(location: &str) -> Option<&str> {
    let path = location.split(['?', '#']).next()?;
    let (_, call_id) = path.rsplit_once("/realtime/calls/")?;
    let call_id = call_id.trim_end_matches('/');
    let valid = !call_id.is_empty()
        && call_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then_some(call_id)
}

/// `response_format=json` of `POST /v1/audio/transcriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionJson {
    /// The transcript.
    pub text: String,
    /// Detected languages (`gpt-transcribe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<TranscriptionLanguage>>,
    /// Token log probabilities, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<LogProb>>,
    /// What was billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `response_format=verbose_json`: the transcript with timed segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionVerboseJson {
    /// Always `transcribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Language of the audio.
    pub language: String,
    /// Audio duration, seconds.
    pub duration: f64,
    /// The whole transcript.
    pub text: String,
    /// Timed segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<VerboseSegment>>,
    /// What was billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// One segment of a verbose transcription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerboseSegment {
    /// Index of the segment.
    pub id: u32,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Segment text.
    pub text: String,
}

#[cfg(test)]
mod tests;
