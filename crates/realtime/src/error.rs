//! The realtime client's one error type.

/// Result alias for this crate.
pub type Result<T, E = RealtimeError> = std::result::Result<T, E>;

/// What can go wrong setting up or running a call.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// The proxy could not be reached at all.
    #[error(
        "cannot reach the Hark proxy at {url}: {message}; check the proxy URL (HARK_PROXY_URL) and your network — recording continues locally"
    )]
    ProxyUnreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The proxy (or OpenAI behind it) refused the call or the transcription.
    #[error("the Hark proxy refused the {what} ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Refused {
        /// `call` or `transcription`.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// The error code from the body, if any.
        code: Option<String>,
        /// The explanation from the body (or the body itself).
        message: String,
        /// Seconds to wait before trying again (`Retry-After`).
        retry_after: Option<u64>,
    },
    /// The proxy answered something that is not a session.
    #[error("the Hark proxy answered something unexpected: {0}")]
    BadAnswer(String),
    /// webrtc-rs failed.
    #[error("WebRTC {step} failed: {message}")]
    Rtc {
        /// What was being done.
        step: &'static str,
        /// The library's explanation.
        message: String,
    },
    /// Something took too long.
    #[error("{what} did not happen within {seconds} s")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// The limit.
        seconds: u64,
    },
}

impl RealtimeError {
    /// Whether trying again later may work (network, rate limit, server trouble).
    pub fn is_retryable(&self) -> bool {
        match self {
            RealtimeError::ProxyUnreachable { .. } | RealtimeError::Timeout { .. } => true,
            // A misconfigured OpenAI key at the proxy stays wrong until an admin fixes it.
            RealtimeError::Refused { status, code, .. } => {
                *status == 429 || (*status >= 500 && code.as_deref() != Some("upstream_auth"))
            }
            RealtimeError::Rtc { .. } | RealtimeError::BadAnswer(_) => false,
        }
    }

    pub(crate) fn rtc(step: &'static str) -> impl Fn(webrtc::error::Error) -> RealtimeError {
        move |err| RealtimeError::Rtc {
            step,
            message: err.to_string(),
        }
    }
}
