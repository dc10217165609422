//! The proxy's one error type: each variant is a status and a stable `code` for clients, with a
//! message that says what is wrong and what to do. Causes are logged, never forwarded: no
//! upstream body, key or token reaches a response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Result alias for this crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not what the API takes.
    #[error("{0}")]
    InvalidRequest(String),
    /// The SDP offer cannot be used.
    #[error("{0}")]
    InvalidSdp(String),
    /// No usable user token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The user may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The organisation's monthly minutes are used up.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The organisation's live-transcription cap is reached.
    #[error("{0}")]
    ConcurrencyLimit(String),
    /// No such session (or not yours).
    #[error("{0}")]
    NotFound(String),
    /// The body is over the limit.
    #[error("request body is over {limit_bytes} bytes; an SDP offer is a few KiB")]
    PayloadTooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// Too many requests from this user or organisation.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        /// When to retry.
        retry_after_secs: u64,
    },
    /// OpenAI refused the proxy's key.
    #[error(
        "the transcription service rejected this proxy's OpenAI key; the proxy's operator must check OPENAI_API_KEY"
    )]
    UpstreamAuth,
    /// OpenAI is rate limiting or overloaded.
    #[error("the transcription service is busy; retry in {retry_after_secs} s")]
    UpstreamBusy {
        /// When to retry.
        retry_after_secs: u64,
    },
    /// OpenAI failed or answered nonsense.
    #[error("the transcription service failed ({0}); retry shortly")]
    UpstreamFailed(String),
    /// OpenAI or Supabase did not answer in time.
    #[error("{0} did not answer in time; retry shortly")]
    UpstreamTimeout(&'static str),
    /// Supabase (PostgREST) failed.
    #[error("the organisation's database is unavailable ({0}); retry shortly")]
    DatabaseUnavailable(String),
    /// The proxy's own configuration is wrong (start-up only).
    #[error("{0}")]
    Config(String),
}

impl AppError {
    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AppError::InvalidSdp(_) => (StatusCode::BAD_REQUEST, "invalid_sdp"),
            AppError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::QuotaExceeded(_) => (StatusCode::FORBIDDEN, "quota_exceeded"),
            AppError::ConcurrencyLimit(_) => (StatusCode::FORBIDDEN, "concurrency_limit"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::UpstreamAuth => (StatusCode::BAD_GATEWAY, "upstream_auth"),
            AppError::UpstreamBusy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "upstream_busy"),
            AppError::UpstreamFailed(_) => (StatusCode::BAD_GATEWAY, "upstream_failed"),
            AppError::UpstreamTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            AppError::DatabaseUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "upstream_database")
            }
            AppError::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured"),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::UpstreamBusy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(code, error = %self, "request failed upstream");
        }
        let body = json!({"error": {"code": code, "message": self.to_string()}});
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
