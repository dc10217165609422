//! The emulator's HTTP surface: OpenAI's documented routes plus `/_emulator/*` controls.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hark_wire::realtime::{RealtimeSession, SessionConfig};
use hark_wire::rest::{ApiErrorResponse, ClientSecretResponse, ExpiresAfter};

use super::call::{self, CallError};
use super::{
    CallRecord, EndReason, EphemeralKey, Faults, State, batch, lock, new_id, session, unix_now,
    unix_now_ms,
};

/// OpenAI's documented upload limit for batch transcription.
pub(crate) const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;

type Shared = Arc<State>;

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/realtime/client_secrets", post(create_client_secret))
        .route("/v1/realtime/calls", post(create_call))
        .route("/v1/realtime/calls/{call_id}/hangup", post(hangup))
        .route(
            "/v1/audio/transcriptions",
            // Room for the multipart framing around a maximal file, so the file check decides.
            post(transcribe).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/_emulator/health", get(|| async { "ok" }))
        .route("/_emulator/calls", get(list_calls))
        .route(
            "/_emulator/faults",
            put(set_faults).delete(reset_faults).get(get_faults),
        )
        .route("/_emulator/faults/next-call", post(push_next_call_faults))
        .fallback(not_found)
        .with_state(state)
}

/// An error answered in OpenAI's shape.
#[derive(Debug)]
pub(crate) struct OpenAiError {
    status: StatusCode,
    body: ApiErrorResponse,
    retry_after_secs: Option<u64>,
}

impl OpenAiError {
    pub(crate) fn new(status: StatusCode, body: ApiErrorResponse) -> OpenAiError {
        OpenAiError {
            status,
            body,
            retry_after_secs: None,
        }
    }

    pub(crate) fn bad_request(
        code: Option<&str>,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> OpenAiError {
        let mut body = ApiErrorResponse::new("invalid_request_error", code, message);
        body.error.param = param.map(str::to_owned);
        OpenAiError::new(StatusCode::BAD_REQUEST, body)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type ApiResult<T> = Result<T, OpenAiError>;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

/// OpenAI shows a wrong key masked: its first three and last four characters.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

fn missing_key() -> OpenAiError {
    OpenAiError::new(
        StatusCode::UNAUTHORIZED,
        ApiErrorResponse::new(
            "invalid_request_error",
            None,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ),
    )
}

fn wrong_key(key: &str) -> OpenAiError {
    OpenAiError::new(
        StatusCode::UNAUTHORIZED,
        ApiErrorResponse::new(
            "invalid_request_error",
            Some("invalid_api_key"),
            format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                mask(key)
            ),
        ),
    )
}

/// Requires the standard API key.
fn standard_key(state: &State, headers: &HeaderMap) -> ApiResult<()> {
    match bearer(headers) {
        None => Err(missing_key()),
        Some(key) if key == state.config.api_key => Ok(()),
        Some(key) => Err(wrong_key(key)),
    }
}

/// The caller's credential: the standard key, or a live ephemeral key and its session.
enum Credential {
    Standard,
    Ephemeral(Box<SessionConfig>),
}

fn credential(state: &State, headers: &HeaderMap) -> ApiResult<Credential> {
    let key = bearer(headers).ok_or_else(missing_key)?;
    if key == state.config.api_key {
        return Ok(Credential::Standard);
    }
    if key.starts_with("ek_") {
        let keys = lock(&state.ephemeral_keys);
        return match keys.get(key) {
            Some(ephemeral) if ephemeral.expires_at > unix_now() => {
                Ok(Credential::Ephemeral(Box::new(ephemeral.session.clone())))
            }
            Some(_) => Err(OpenAiError::new(
                StatusCode::UNAUTHORIZED,
                ApiErrorResponse::new(
                    "invalid_request_error",
                    Some("invalid_api_key"),
                    "The ephemeral key has expired. Create a new client secret.",
                ),
            )),
            None => Err(wrong_key(key)),
        };
    }
    Err(wrong_key(key))
}

/// Answers as a `reject_status` fault says.
fn rejection(faults: &Faults) -> ApiResult<()> {
    let Some(status) = faults.reject_status else {
        return Ok(());
    };
    let retry_after = faults.retry_after_secs.unwrap_or(1);
    let (status, body, retry) = match status {
        401 => (
            StatusCode::UNAUTHORIZED,
            ApiErrorResponse::new(
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided.",
            ),
            None,
        ),
        429 => (
            StatusCode::TOO_MANY_REQUESTS,
            ApiErrorResponse::new(
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for requests. Please try again later.",
            ),
            Some(retry_after),
        ),
        503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorResponse::new(
                "server_error",
                None,
                "The engine is currently overloaded, please try again later.",
            ),
            Some(retry_after),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiErrorResponse::new(
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that!",
            ),
            None,
        ),
    };
    Err(OpenAiError {
        status,
        body,
        retry_after_secs: retry,
    })
}

fn invalid_json(err: impl std::fmt::Display) -> OpenAiError {
    OpenAiError::bad_request(
        Some("invalid_json"),
        None,
        format!(
            "We could not parse the JSON body of your request ({err}). The OpenAI API expects a JSON payload."
        ),
    )
}

fn parse_session(json: &[u8], param: &str) -> ApiResult<SessionConfig> {
    let session: SessionConfig = serde_json::from_slice(json).map_err(|err| {
        OpenAiError::bad_request(
            Some("invalid_value"),
            Some(param),
            format!("Invalid '{param}': {err}"),
        )
    })?;
    session::validate(&session).map_err(|body| OpenAiError::new(StatusCode::BAD_REQUEST, body))?;
    Ok(session)
}

async fn create_client_secret(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ClientSecretResponse>> {
    standard_key(&state, &headers)?;
    rejection(&lock(&state.faults))?;
    let raw: serde_json::Value = serde_json::from_slice(&body).map_err(invalid_json)?;
    if let Some(unknown) = raw
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "expires_after" && *k != "session"))
    {
        return Err(OpenAiError::bad_request(
            Some("unknown_parameter"),
            Some(unknown),
            format!("Unknown parameter: '{unknown}'."),
        ));
    }
    let expires_after: Option<ExpiresAfter> = match raw.get("expires_after") {
        Some(json) => Some(serde_json::from_value(json.clone()).map_err(|err| {
            OpenAiError::bad_request(
                Some("invalid_value"),
                Some("expires_after"),
                format!("Invalid 'expires_after': {err}"),
            )
        })?),
        None => None,
    };
    let seconds = expires_after
        .and_then(|e| e.seconds)
        .unwrap_or(ExpiresAfter::DEFAULT_SECONDS);
    if !(ExpiresAfter::MIN_SECONDS..=ExpiresAfter::MAX_SECONDS).contains(&seconds) {
        return Err(OpenAiError::bad_request(
            Some(if seconds < ExpiresAfter::MIN_SECONDS {
                "integer_below_min_value"
            } else {
                "integer_above_max_value"
            }),
            Some("expires_after.seconds"),
            format!(
                "Invalid 'expires_after.seconds': expected a value between {} and {}, but got {seconds} instead.",
                ExpiresAfter::MIN_SECONDS,
                ExpiresAfter::MAX_SECONDS
            ),
        ));
    }
    let session = match raw.get("session") {
        Some(json) => parse_session(json.to_string().as_bytes(), "session")?,
        None => SessionConfig::Realtime(RealtimeSession::default()),
    };
    let expires_at = unix_now() + seconds;
    let session = session::effective(
        session,
        unix_now() + state.config.max_call_duration.as_secs() as i64,
    );
    let value = format!("ek_{}", new_id("").to_lowercase());
    lock(&state.ephemeral_keys).insert(
        value.clone(),
        EphemeralKey {
            session: session.clone(),
            expires_at,
        },
    );
    Ok(Json(ClientSecretResponse {
        value,
        expires_at,
        session,
    }))
}

async fn create_call(AxumState(state): AxumState<Shared>, request: Request) -> ApiResult<Response> {
    let headers = request.headers().clone();
    let credential = credential(&state, &headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (offer, session_part) = if content_type.starts_with("multipart/form-data") {
        read_call_form(
            Multipart::from_request(request, &state)
                .await
                .map_err(|err| {
                    OpenAiError::bad_request(None, None, format!("Invalid multipart body: {err}"))
                })?,
        )
        .await?
    } else if content_type.starts_with("application/sdp") {
        let body = Bytes::from_request(request, &state).await.map_err(|err| {
            OpenAiError::bad_request(None, None, format!("Unreadable body: {err}"))
        })?;
        (String::from_utf8_lossy(&body).into_owned(), None)
    } else {
        return Err(OpenAiError::bad_request(
            Some("unsupported_content_type"),
            None,
            format!(
                "Unsupported content type '{content_type}'. Send multipart/form-data (parts 'sdp' and 'session') or application/sdp with an ephemeral key."
            ),
        ));
    };
    if offer.trim().is_empty() {
        return Err(OpenAiError::bad_request(
            Some("missing_required_parameter"),
            Some("sdp"),
            "Missing required parameter: 'sdp'.",
        ));
    }
    let (session, auth) = match (session_part, credential) {
        (Some(session), Credential::Standard) => (session, "standard"),
        (Some(session), Credential::Ephemeral(_)) => (session, "ephemeral"),
        (None, Credential::Ephemeral(session)) => (*session, "ephemeral"),
        (None, Credential::Standard) => (
            SessionConfig::Realtime(RealtimeSession::default()),
            "standard",
        ),
    };
    let faults = state.take_call_faults();
    rejection(&faults)?;
    if faults.answer_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.answer_delay_ms)).await;
    }
    let max_duration = state.config.max_call_duration;
    let session = session::effective(session, unix_now() + max_duration.as_secs() as i64);
    let call_id = format!("rtc_{}", new_id("").to_lowercase());
    let session_id = match &session {
        SessionConfig::Transcription(s) => s.id.clone(),
        SessionConfig::Realtime(s) => s.id.clone(),
    }
    .unwrap_or_default();
    let record = CallRecord {
        call_id: call_id.clone(),
        session_id,
        model: session.transcription_model().map(str::to_owned),
        turn_detection: if session::vad_of(&session).is_some() {
            "server_vad"
        } else {
            "manual"
        },
        auth,
        created_at_ms: unix_now_ms(),
        ended: None,
        audio_ms: 0,
        items: Vec::new(),
        client_events: Vec::new(),
        network_cut_at_ms: None,
    };
    let listen_ip = state.config.listen.ip();
    let udp_addr = if listen_ip.is_unspecified() {
        "0.0.0.0:0".to_owned()
    } else {
        format!("{listen_ip}:0")
    };
    let (handle, answer) = call::start(
        call_id.clone(),
        offer,
        session,
        faults,
        max_duration,
        udp_addr,
        record,
    )
    .await
    .map_err(|err| match err {
        CallError::BadOffer(detail) => OpenAiError::bad_request(
            Some("invalid_offer"),
            Some("sdp"),
            format!("The SDP offer could not be parsed or answered: {detail}"),
        ),
        CallError::Internal(detail) => {
            tracing::error!(%detail, "emulator failed to answer a call");
            OpenAiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiErrorResponse::new(
                    "server_error",
                    None,
                    "The server had an error while processing your request. Sorry about that!",
                ),
            )
        }
    })?;
    lock(&state.calls).insert(call_id.clone(), handle);
    let location = format!("{}{call_id}", hark_wire::rest::CALLS_LOCATION_PREFIX);
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
        ],
        answer,
    )
        .into_response())
}

/// Reads the `sdp` and `session` parts of a call form.
async fn read_call_form(mut form: Multipart) -> ApiResult<(String, Option<SessionConfig>)> {
    let (mut sdp, mut session) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|err| {
        OpenAiError::bad_request(None, None, format!("Invalid multipart body: {err}"))
    })? {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(|err| {
            OpenAiError::bad_request(
                None,
                Some(&name),
                format!("Unreadable part '{name}': {err}"),
            )
        })?;
        match name.as_str() {
            "sdp" => sdp = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "session" => session = Some(parse_session(&bytes, "session")?),
            other => {
                return Err(OpenAiError::bad_request(
                    Some("unknown_parameter"),
                    Some(other),
                    format!("Unknown parameter: '{other}'."),
                ));
            }
        }
    }
    let sdp = sdp.ok_or_else(|| {
        OpenAiError::bad_request(
            Some("missing_required_parameter"),
            Some("sdp"),
            "Missing required parameter: 'sdp'.",
        )
    })?;
    Ok((sdp, session))
}

async fn hangup(
    AxumState(state): AxumState<Shared>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    standard_key(&state, &headers)?;
    let call = lock(&state.calls).get(&call_id).cloned();
    let Some(call) = call else {
        return Err(OpenAiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorResponse::new(
                "invalid_request_error",
                Some("call_not_found"),
                format!("Call '{call_id}' not found."),
            ),
        ));
    };
    call.end(EndReason::Hangup).await;
    Ok(StatusCode::OK)
}

async fn transcribe(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    standard_key(&state, &headers)?;
    rejection(&lock(&state.faults))?;
    let form = Multipart::from_request(request, &state)
        .await
        .map_err(|err| {
            OpenAiError::bad_request(None, None, format!("Expected multipart/form-data: {err}"))
        })?;
    batch::transcribe(form).await
}

async fn list_calls(AxumState(state): AxumState<Shared>) -> Json<Vec<CallRecord>> {
    Json(state.call_records())
}

fn checked(faults: Faults) -> Result<Faults, (StatusCode, String)> {
    faults
        .validate()
        .map_err(|message| (StatusCode::BAD_REQUEST, message))?;
    Ok(faults)
}

async fn set_faults(
    AxumState(state): AxumState<Shared>,
    Json(faults): Json<Faults>,
) -> Result<StatusCode, (StatusCode, String)> {
    *lock(&state.faults) = checked(faults)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_faults(AxumState(state): AxumState<Shared>) -> Json<Faults> {
    Json(lock(&state.faults).clone())
}

async fn reset_faults(AxumState(state): AxumState<Shared>) -> StatusCode {
    *lock(&state.faults) = Faults::default();
    lock(&state.next_call_faults).clear();
    StatusCode::NO_CONTENT
}

async fn push_next_call_faults(
    AxumState(state): AxumState<Shared>,
    Json(faults): Json<Faults>,
) -> Result<StatusCode, (StatusCode, String)> {
    lock(&state.next_call_faults).push_back(checked(faults)?);
    Ok(StatusCode::NO_CONTENT)
}

async fn not_found(request: Request) -> OpenAiError {
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        ApiErrorResponse::new(
            "invalid_request_error",
            None,
            format!(
                "Invalid URL ({} {})",
                request.method(),
                request.uri().path()
            ),
        ),
    )
}
