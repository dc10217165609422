//! The HTTP API: `POST /v1/sessions`, `POST /v1/sessions/{id}/hangup`, health, readiness and
//! metrics. Built by [`app`] from an [`AppState`], so tests drive it with any upstream.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use hark_wire::proxy::{SessionRequest, SessionResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use uuid::Uuid;

use crate::auth::{User, Verifier};
use crate::error::{AppError, Result};
use crate::offer::{MAX_OFFER_BYTES, validate_offer};
use crate::policy::{CallRequest, PolicySource};
use crate::upstream::Upstream;

/// The user every `--dev` request acts as.
pub const DEV_USER: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0de7);

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    route: &'static str,
    status: u16,
}

/// Labels of the rejection counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    reason: &'static str,
}

/// Prometheus metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    rejections: Family<ReasonLabels, Counter>,
    upstream_seconds: Histogram,
    active_calls: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hark_proxy");
        let requests = Family::<RouteLabels, Counter>::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        let upstream_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        let active_calls = Gauge::default();
        registry.register(
            "requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "rejections",
            "Refused session requests by reason",
            rejections.clone(),
        );
        registry.register(
            "upstream_call_seconds",
            "Time OpenAI took to create a call",
            upstream_seconds.clone(),
        );
        registry.register(
            "active_calls",
            "Calls this machine created that are still running",
            active_calls.clone(),
        );
        Metrics {
            registry,
            requests,
            rejections,
            upstream_seconds,
            active_calls,
        }
    }

    fn record(&self, route: &'static str, result: &Result<impl Sized>) {
        let status = match result {
            Ok(_) => 200,
            Err(err) => {
                self.rejections
                    .get_or_create(&ReasonLabels {
                        reason: err.status_and_code().1,
                    })
                    .inc();
                err.status_and_code().0.as_u16()
            }
        };
        self.requests
            .get_or_create(&RouteLabels { route, status })
            .inc();
    }
}

/// A call this machine created, until it ends.
#[derive(Debug)]
struct ActiveCall {
    call_id: String,
    started: Instant,
    enforcer: tokio::task::JoinHandle<()>,
}

/// Shared state of the proxy.
#[derive(Debug)]
pub struct AppState {
    /// `None` in `--dev`.
    pub verifier: Option<Verifier>,
    /// Where admission and policy come from.
    pub policy: PolicySource,
    /// OpenAI.
    pub upstream: Arc<dyn Upstream>,
    per_user: DefaultKeyedRateLimiter<Uuid>,
    per_org: DefaultKeyedRateLimiter<Uuid>,
    global: DefaultDirectRateLimiter,
    metrics: Metrics,
    active: Mutex<HashMap<Uuid, ActiveCall>>,
}

impl AppState {
    /// State with per-user, per-organisation and global limits of requests per minute.
    pub fn new(
        verifier: Option<Verifier>,
        policy: PolicySource,
        upstream: Arc<dyn Upstream>,
        limits: RateLimits,
    ) -> AppState {
        let per_minute =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        AppState {
            verifier,
            policy,
            upstream,
            per_user: RateLimiter::keyed(per_minute(limits.per_user)),
            per_org: RateLimiter::keyed(per_minute(limits.per_org)),
            global: RateLimiter::direct(per_minute(limits.global)),
            metrics: Metrics::new(),
            active: Mutex::new(HashMap::new()),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ActiveCall>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Requests per minute allowed.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Per user.
    pub per_user: u32,
    /// Per organisation (checked once the interview's organisation is known).
    pub per_org: u32,
    /// For the whole machine.
    pub global: u32,
}

type Shared = Arc<AppState>;

/// The proxy's router.
pub fn app(state: Shared) -> Router {
    Router::new()
        .route(
            "/v1/sessions",
            post(create_session).layer(DefaultBodyLimit::max(MAX_OFFER_BYTES + 4096)),
        )
        .route("/v1/sessions/{session_id}/hangup", post(hangup))
        .route(
            "/v1/transcriptions",
            // Room for the multipart framing around a maximal file, so the file check decides.
            post(transcribe).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                // Every request gets an id (or keeps the caller's), in its log span and its answer.
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &axum::http::Request<_>| {
                            let request_id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-")
                                .to_owned();
                            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                        })
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Millis)),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                // A request that takes this long is cut off (uploads have a longer upstream timeout inside).
                .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, Duration::from_secs(120))),
        )
}

/// OpenAI's upload limit for batch transcription.
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<User> {
    let Some(verifier) = &state.verifier else {
        return Ok(User {
            id: DEV_USER,
            token: String::new(),
        });
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::Unauthenticated(
                "missing `Authorization: Bearer <Supabase access token>`: sign in first".into(),
            )
        })?;
    verifier.verify(token).await
}

fn rate_limit(state: &AppState, user: Uuid) -> Result<()> {
    let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
    if let Err(not_until) = state.global.check() {
        return Err(AppError::RateLimited {
            retry_after_secs: not_until.wait_time_from(now).as_secs().max(1),
        });
    }
    if let Err(not_until) = state.per_user.check_key(&user) {
        return Err(AppError::RateLimited {
            retry_after_secs: not_until.wait_time_from(now).as_secs().max(1),
        });
    }
    Ok(())
}

/// The organisation's limit, once admission has named the organisation; a refused call gives
/// its slot back.
async fn org_rate_limit(
    state: &AppState,
    user: &User,
    policy: &crate::policy::CallPolicy,
) -> Result<()> {
    let Some(org_id) = policy.org_id else {
        return Ok(());
    };
    let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
    if let Err(not_until) = state.per_org.check_key(&org_id) {
        let _ = state
            .policy
            .end(user, &policy.session_id.to_string(), Some(0.0))
            .await;
        return Err(AppError::RateLimited {
            retry_after_secs: not_until.wait_time_from(now).as_secs().max(1),
        });
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn create_session(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: std::result::Result<Json<SessionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SessionResponse>)> {
    let result = create_session_inner(&state, &headers, body).await;
    state.metrics.record("sessions", &result);
    result.map(|response| (StatusCode::CREATED, Json(response)))
}

async fn create_session_inner(
    state: &Shared,
    headers: &HeaderMap,
    body: std::result::Result<Json<SessionRequest>, JsonRejection>,
) -> Result<SessionResponse> {
    let started = Instant::now();
    let user = authenticate(state, headers).await?;
    rate_limit(state, user.id)?;
    let Json(request) = body.map_err(|rejection| match rejection {
        JsonRejection::BytesRejection(_) => AppError::PayloadTooLarge {
            limit_bytes: MAX_OFFER_BYTES,
        },
        other => AppError::InvalidRequest(format!(
            "the body must be JSON {{sdp, interview_id, source, language?, prompt?}}: {}",
            other.body_text()
        )),
    })?;
    if request.source != "microphone" && request.source != "system" {
        return Err(AppError::InvalidRequest(format!(
            "source must be \"microphone\" or \"system\", not {:?}",
            request.source
        )));
    }
    validate_offer(&request.sdp)?;
    let call_request = CallRequest {
        interview_id: request.interview_id,
        source: request.source.clone(),
        language: request.language.clone(),
        prompt: request.prompt.clone(),
    };
    let policy = state.policy.start(&user, &call_request).await?;
    org_rate_limit(state, &user, &policy).await?;
    let upstream_started = Instant::now();
    let created = match state.upstream.create_call(&request.sdp, &policy).await {
        Ok(created) => created,
        Err(err) => {
            // Release the admitted slot; the call never existed.
            if let Err(end_err) = state
                .policy
                .end(&user, &policy.session_id.to_string(), Some(0.0))
                .await
            {
                tracing::warn!(session_id = %policy.session_id, error = %end_err, "could not release a call OpenAI refused");
            }
            return Err(err);
        }
    };
    state
        .metrics
        .upstream_seconds
        .observe(upstream_started.elapsed().as_secs_f64());
    if let Err(err) = state
        .policy
        .attach(&user, policy.session_id, &created.call_id)
        .await
    {
        // Without its record the call could not be hung up or metered: end it now.
        let _ = state.upstream.hangup(&created.call_id).await;
        let _ = state
            .policy
            .end(&user, &policy.session_id.to_string(), Some(0.0))
            .await;
        return Err(err);
    }
    let enforcer = tokio::spawn(enforce_max_duration(
        state.clone(),
        user.clone(),
        policy.session_id,
        Duration::from_secs(policy.max_seconds.into()),
    ));
    state.active().insert(
        policy.session_id,
        ActiveCall {
            call_id: created.call_id.clone(),
            started: Instant::now(),
            enforcer,
        },
    );
    state.metrics.active_calls.inc();
    tracing::info!(user_id = %user.id, org_id = ?policy.org_id, session_id = %policy.session_id, call_id = %created.call_id,
        model = %policy.model, latency_ms = started.elapsed().as_millis() as u64, "call created");
    Ok(SessionResponse {
        session_id: policy.session_id,
        call_id: created.call_id,
        sdp: created.answer,
        turn_detection: policy.turn_mode(),
        expires_at: unix_now() + u64::from(policy.max_seconds),
        max_seconds: policy.max_seconds,
        model: policy.model,
    })
}

/// Hangs a call up at the organisation's maximum length.
async fn enforce_max_duration(state: Shared, user: User, session_id: Uuid, max: Duration) {
    tokio::time::sleep(max).await;
    let Some(call) = state.active().remove(&session_id) else {
        return;
    };
    state.metrics.active_calls.dec();
    if let Err(err) = state.upstream.hangup(&call.call_id).await {
        tracing::warn!(%session_id, error = %err, "could not hang up a call at its maximum length");
    }
    if let Err(err) = state
        .policy
        .end(
            &user,
            &session_id.to_string(),
            Some(call.started.elapsed().as_secs_f64()),
        )
        .await
    {
        tracing::warn!(%session_id, error = %err, "could not record the end of a call at its maximum length");
    }
    tracing::info!(%session_id, call_id = %call.call_id, "call hung up at its maximum length");
}

async fn hangup(
    State(state): State<Shared>,
    Path(session_id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let result = hangup_inner(&state, session_id, &headers).await;
    state.metrics.record("hangup", &result);
    result
}

async fn hangup_inner(state: &Shared, session_id: Uuid, headers: &HeaderMap) -> Result<StatusCode> {
    let user = authenticate(state, headers).await?;
    let local = state
        .active()
        .get(&session_id)
        .map(|call| (call.call_id.clone(), call.started.elapsed()));
    // The database decides who may end it (its user or an org admin) and knows the call id
    // even when another proxy machine created it.
    let ended_call_id = state
        .policy
        .end(
            &user,
            &session_id.to_string(),
            local.as_ref().map(|(_, elapsed)| elapsed.as_secs_f64()),
        )
        .await
        .map_err(|err| match err {
            AppError::NotFound(_) => {
                AppError::NotFound(format!("no live session {session_id} that you may hang up"))
            }
            other => other,
        })?;
    let call_id = local.map(|(call_id, _)| call_id).or(ended_call_id);
    let Some(call_id) = call_id else {
        return Err(AppError::NotFound(format!(
            "no live session {session_id} that you may hang up"
        )));
    };
    if let Some(call) = state.active().remove(&session_id) {
        call.enforcer.abort();
        state.metrics.active_calls.dec();
    }
    state.upstream.hangup(&call_id).await?;
    tracing::info!(user_id = %user.id, %session_id, %call_id, "call hung up");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/transcriptions`: multipart `file`, `interview_id`, optional `source`, `language`,
/// `prompt`, `response_format` (`json` or `verbose_json`). Admitted and metered like a call.
async fn transcribe(
    State(state): State<Shared>,
    headers: HeaderMap,
    multipart: axum::extract::Multipart,
) -> axum::response::Response {
    let result = transcribe_inner(&state, &headers, multipart).await;
    state.metrics.record("transcriptions", &result);
    match result {
        Ok(body) => Json(body).into_response(),
        // A refusal may come before the upload was read; the server then drops the
        // connection, so tell the client not to send its next request on it.
        Err(err) => {
            let mut response = err.into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> AppError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge {
            limit_bytes: MAX_UPLOAD_BYTES,
        }
    } else {
        AppError::InvalidRequest(format!(
            "the body must be multipart/form-data with file and interview_id: {}",
            err.body_text()
        ))
    }
}

async fn transcribe_inner(
    state: &Shared,
    headers: &HeaderMap,
    mut form: axum::extract::Multipart,
) -> Result<serde_json::Value> {
    let user = authenticate(state, headers).await?;
    rate_limit(state, user.id)?;
    let (mut file, mut file_name, mut interview_id) = (None, String::from("audio"), None);
    let (mut source, mut language, mut prompt, mut response_format) =
        ("microphone".to_owned(), None, None, "json".to_owned());
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            file_name = field.file_name().unwrap_or("audio").to_owned();
            let bytes = field.bytes().await.map_err(multipart_error)?;
            if bytes.len() > MAX_UPLOAD_BYTES {
                return Err(AppError::PayloadTooLarge {
                    limit_bytes: MAX_UPLOAD_BYTES,
                });
            }
            file = Some(bytes);
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "interview_id" => {
                interview_id = Some(text.parse::<Uuid>().map_err(|_| {
                    AppError::InvalidRequest(format!("interview_id {text:?} is not a UUID"))
                })?)
            }
            "source" => source = text,
            "language" => language = Some(text),
            "prompt" => prompt = Some(text),
            "response_format" => response_format = text,
            other => {
                return Err(AppError::InvalidRequest(format!(
                    "unknown field {other:?}; send file, interview_id, source, language, prompt, response_format"
                )));
            }
        }
    }
    let file = file.filter(|f| !f.is_empty()).ok_or_else(|| {
        AppError::InvalidRequest("the audio `file` part is missing or empty".into())
    })?;
    let interview_id = interview_id
        .ok_or_else(|| AppError::InvalidRequest("the `interview_id` part is missing".into()))?;
    if !["json", "verbose_json"].contains(&response_format.as_str()) {
        return Err(AppError::InvalidRequest(format!(
            "response_format {response_format:?} is not offered; use json or verbose_json"
        )));
    }
    let policy = state
        .policy
        .start(
            &user,
            &CallRequest {
                interview_id,
                source,
                language,
                prompt,
            },
        )
        .await?;
    let result = state
        .upstream
        .transcribe(file, &file_name, &policy, &response_format)
        .await;
    // Meter what was transcribed: the audio seconds OpenAI reports (duration, or ≈10 audio
    // tokens per second), zero when it failed.
    let seconds = result.as_ref().ok().map(|body| {
        let usage = &body["usage"];
        usage["seconds"]
            .as_f64()
            .or_else(|| {
                usage["input_token_details"]["audio_tokens"]
                    .as_f64()
                    .map(|t| t / 10.0)
            })
            .or_else(|| body["duration"].as_f64())
            .unwrap_or(0.0)
    });
    if let Err(err) = state
        .policy
        .end(
            &user,
            &policy.session_id.to_string(),
            Some(seconds.unwrap_or(0.0)),
        )
        .await
    {
        tracing::warn!(session_id = %policy.session_id, error = %err, "could not meter a transcription");
    }
    let body = result?;
    tracing::info!(user_id = %user.id, session_id = %policy.session_id, seconds = seconds.unwrap_or(0.0), "file transcribed");
    Ok(body)
}

async fn ready(State(state): State<Shared>) -> impl IntoResponse {
    match &state.verifier {
        Some(verifier) if !verifier.has_keys().await => {
            // Try now, so readiness recovers by itself once Supabase answers.
            match verifier.refresh().await {
                Ok(()) => (StatusCode::OK, "ready"),
                Err(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "waiting for the project's signing keys",
                ),
            }
        }
        _ => (StatusCode::OK, "ready"),
    }
}

async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        );
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
