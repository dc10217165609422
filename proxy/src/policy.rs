//! Admission and policy: who may start a call, with which model, language, prompt and length.
//! With Supabase the organisation's rules live in PostgreSQL (`start_realtime_call`,
//! `attach_realtime_call`, `end_realtime_call`), called as the user through PostgREST, so every
//! proxy machine agrees. In `--dev` a fixed policy stands in.

use hark_wire::realtime::TurnMode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::User;
use crate::config::DevPolicy;
use crate::error::{AppError, Result};

/// What the client asked for.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The interview being recorded.
    pub interview_id: Uuid,
    /// `microphone` or `system`.
    pub source: String,
    /// Requested language (used only where the organisation allows).
    pub language: Option<String>,
    /// Requested vocabulary prompt (likewise).
    pub prompt: Option<String>,
}

/// The organisation's decision for one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallPolicy {
    /// Id of the admitted call (the proxy's `session_id`).
    pub session_id: Uuid,
    /// The interview's organisation (`None` in `--dev`).
    #[serde(default)]
    pub org_id: Option<Uuid>,
    /// Transcription model.
    pub model: String,
    /// Language, if any.
    #[serde(default)]
    pub language: Option<String>,
    /// Vocabulary prompt, if any.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Longest the call may last.
    pub max_seconds: u32,
}

impl CallPolicy {
    /// Who ends utterances for this model.
    pub fn turn_mode(&self) -> TurnMode {
        TurnMode::for_model(&self.model)
    }
}

/// Where policy comes from.
pub enum PolicySource {
    /// The organisation's Supabase project.
    Supabase(postgrest::Postgrest),
    /// `--dev`: a fixed policy, no accounting.
    Dev(DevPolicy),
}

impl std::fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Supabase(_) => f.write_str("PolicySource::Supabase"),
            PolicySource::Dev(policy) => f.debug_tuple("PolicySource::Dev").field(policy).finish(),
        }
    }
}

/// Maps a PostgREST error body to the proxy's error (by SQLSTATE, never by HTTP status: a
/// PostgREST-compatible server may answer an RLS refusal with 401).
fn database_error(status: u16, body: &Value) -> AppError {
    let code = body.get("code").and_then(Value::as_str).unwrap_or("");
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let hint = body
        .get("hint")
        .and_then(Value::as_str)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    match code {
        "42501" => AppError::Forbidden(format!("{message}{hint}")),
        "HK001" => AppError::ConcurrencyLimit(format!("{message}{hint}")),
        "HK002" => AppError::QuotaExceeded(format!("{message}{hint}")),
        "22023" | "22P02" => AppError::InvalidRequest(message),
        "P0002" => AppError::NotFound(message),
        code if code.starts_with("PGRST30") => {
            AppError::Unauthenticated("the database refused the access token: sign in again".into())
        }
        _ => AppError::DatabaseUnavailable(format!("HTTP {status}, code {code:?}")),
    }
}

async fn rpc(
    rest: &postgrest::Postgrest,
    user: &User,
    function: &str,
    mut params: Value,
) -> Result<Value> {
    // Absent arguments take the function's defaults; an explicit null may arrive as "" through
    // a PostgREST-compatible server.
    if let Some(object) = params.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    let response = rest
        .rpc(function, params.to_string())
        .auth(&user.token)
        .execute()
        .await
        .map_err(|err| {
            AppError::DatabaseUnavailable(format!("{function}: {}", err.without_url()))
        })?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(database_error(status, &body))
    }
}

impl PolicySource {
    /// Admits a call, or says why not.
    pub async fn start(&self, user: &User, request: &CallRequest) -> Result<CallPolicy> {
        match self {
            PolicySource::Supabase(rest) => {
                let params = json!({"interview_id": request.interview_id, "source": request.source,
                    "session_id": Uuid::new_v4(), "language": request.language, "prompt": request.prompt});
                let body = rpc(rest, user, "start_realtime_call", params).await?;
                serde_json::from_value(body).map_err(|err| {
                    AppError::DatabaseUnavailable(format!(
                        "start_realtime_call answered an unexpected shape: {err}"
                    ))
                })
            }
            PolicySource::Dev(dev) => Ok(CallPolicy {
                session_id: Uuid::new_v4(),
                org_id: None,
                model: dev.model.clone(),
                language: request.language.clone().or_else(|| dev.language.clone()),
                prompt: request.prompt.clone(),
                max_seconds: dev.max_minutes * 60,
            }),
        }
    }

    /// Records OpenAI's call id on the admitted call.
    pub async fn attach(&self, user: &User, session_id: Uuid, call_id: &str) -> Result<()> {
        match self {
            PolicySource::Supabase(rest) => rpc(
                rest,
                user,
                "attach_realtime_call",
                json!({"session_id": session_id, "call_id": call_id}),
            )
            .await
            .map(drop),
            PolicySource::Dev(_) => Ok(()),
        }
    }

    /// Ends a call as `user` (its owner or an org admin); returns OpenAI's call id if known.
    /// `seconds: None` lets the database count from the call's start.
    pub async fn end(
        &self,
        user: &User,
        session_or_call_id: &str,
        seconds: Option<f64>,
    ) -> Result<Option<String>> {
        match self {
            PolicySource::Supabase(rest) => {
                let body = rpc(
                    rest,
                    user,
                    "end_realtime_call",
                    json!({"call_id": session_or_call_id, "seconds": seconds}),
                )
                .await?;
                Ok(body
                    .get("call_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned))
            }
            PolicySource::Dev(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_map_by_sqlstate_not_status() {
        let check = |status, code: &str, expected: &str| {
            let err = database_error(status, &json!({"code": code, "message": "m", "hint": "h"}));
            assert_eq!(err.status_and_code().1, expected, "{code}");
        };
        check(401, "42501", "forbidden");
        check(403, "42501", "forbidden");
        check(400, "HK001", "concurrency_limit");
        check(400, "HK002", "quota_exceeded");
        check(400, "22023", "invalid_request");
        check(404, "P0002", "not_found");
        check(401, "PGRST301", "unauthenticated");
        check(500, "XX000", "upstream_database");
    }
}
