//! OpenAI (or Azure OpenAI) as the proxy reaches it: create a transcription call, hang it up.
//! The key is sent only here; answers other than success are mapped to the proxy's errors and
//! logged, never forwarded.

use std::time::Duration;

use hark_wire::realtime::{
    InputAudio, NoiseReduction, ServerVad, SessionAudio, SessionConfig, TranscriptionConfig,
    TranscriptionSession, TurnDetection, TurnMode,
};
use hark_wire::rest::{
    ClientSecretRequest, ClientSecretResponse, ExpiresAfter, call_id_from_location,
};

use crate::config::{CallForm, Secret};
use crate::error::{AppError, Result};
use crate::policy::CallPolicy;

/// A call OpenAI answered.
#[derive(Debug, Clone)]
pub struct CreatedCall {
    /// OpenAI's SDP answer.
    pub answer: String,
    /// `rtc_…`.
    pub call_id: String,
}

/// The upstream, as a trait so tests can point it anywhere.
#[async_trait::async_trait]
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// Creates a transcription call for `offer` with `policy`.
    async fn create_call(&self, offer: &str, policy: &CallPolicy) -> Result<CreatedCall>;
    /// Ends a call.
    async fn hangup(&self, call_id: &str) -> Result<()>;
    /// Transcribes a recorded file (back-fill of what a live call missed).
    async fn transcribe(
        &self,
        audio: bytes::Bytes,
        file_name: &str,
        policy: &CallPolicy,
        response_format: &str,
    ) -> Result<serde_json::Value>;
}

/// The transcription session a policy asks for.
pub fn transcription_session(policy: &CallPolicy) -> SessionConfig {
    let turn_detection = match policy.turn_mode() {
        TurnMode::Manual => None,
        TurnMode::ServerVad => Some(TurnDetection::ServerVad(ServerVad::defaults())),
    };
    SessionConfig::Transcription(TranscriptionSession {
        audio: Some(SessionAudio {
            input: Some(InputAudio {
                transcription: Some(TranscriptionConfig {
                    model: Some(policy.model.clone()),
                    language: policy.language.clone(),
                    // gpt-realtime-whisper takes no prompt.
                    prompt: policy
                        .prompt
                        .clone()
                        .filter(|_| policy.model != "gpt-realtime-whisper"),
                    ..TranscriptionConfig::default()
                }),
                noise_reduction: Some(Some(NoiseReduction {
                    kind: "near_field".to_owned(),
                })),
                turn_detection: Some(turn_detection),
                ..InputAudio::default()
            }),
            ..SessionAudio::default()
        }),
        ..TranscriptionSession::default()
    })
}

/// OpenAI's REST API.
#[derive(Debug)]
pub struct OpenAi {
    http: reqwest::Client,
    base_url: String,
    key: Secret,
    form: CallForm,
    timeout: Duration,
}

impl OpenAi {
    /// An upstream at `base_url` (`…/v1`).
    pub fn new(
        http: reqwest::Client,
        base_url: String,
        key: Secret,
        form: CallForm,
        timeout: Duration,
    ) -> OpenAi {
        OpenAi {
            http,
            base_url,
            key,
            form,
            timeout,
        }
    }

    fn send_error(&self, step: &'static str, err: reqwest::Error) -> AppError {
        if err.is_timeout() {
            AppError::UpstreamTimeout("the transcription service")
        } else {
            tracing::warn!(step, error = %err.without_url(), "OpenAI request failed");
            AppError::UpstreamFailed(format!("{step}: connection failed"))
        }
    }

    /// Maps a non-success answer; the body is logged (it holds no secret of ours), not returned.
    async fn refusal(step: &'static str, response: reqwest::Response) -> AppError {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let body = response.text().await.unwrap_or_default();
        tracing::warn!(step, status, body = %body.chars().take(500).collect::<String>(), "OpenAI refused");
        match status {
            401 | 403 => AppError::UpstreamAuth,
            429 | 503 => AppError::UpstreamBusy { retry_after_secs: retry_after },
            400 if step == "create call" => AppError::InvalidSdp("the transcription service could not use this offer; check that it is the peer connection's unmodified local description".into()),
            _ => AppError::UpstreamFailed(format!("{step}: HTTP {status}")),
        }
    }

    async fn client_secret(&self, session: &SessionConfig) -> Result<String> {
        let request = ClientSecretRequest {
            expires_after: Some(ExpiresAfter::seconds(60)),
            session: Some(session.clone()),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(format!("{}/realtime/client_secrets", self.base_url))
                .bearer_auth(self.key.expose())
                .timeout(self.timeout)
                .json(&request)
                .send()
                .await;
            // Minting a key is safe to repeat; creating the call is not.
            let retryable = match &sent {
                Err(err) => err.is_timeout() || err.is_connect(),
                Ok(response) => response.status().is_server_error() && response.status() != 503,
            };
            if retryable && attempt < 2 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let response = sent.map_err(|err| self.send_error("create client secret", err))?;
            if !response.status().is_success() {
                return Err(Self::refusal("create client secret", response).await);
            }
            let secret: ClientSecretResponse = response.json().await.map_err(|_| {
                AppError::UpstreamFailed("create client secret: unexpected answer".into())
            })?;
            return Ok(secret.value);
        }
    }
}

#[async_trait::async_trait]
impl Upstream for OpenAi {
    async fn create_call(&self, offer: &str, policy: &CallPolicy) -> Result<CreatedCall> {
        let session = transcription_session(policy);
        let url = format!("{}/realtime/calls", self.base_url);
        let request = match self.form {
            CallForm::ClientSecret => {
                let ephemeral = self.client_secret(&session).await?;
                self.http
                    .post(url)
                    .bearer_auth(ephemeral)
                    .header(reqwest::header::CONTENT_TYPE, "application/sdp")
                    .body(offer.to_owned())
            }
            CallForm::Multipart => {
                let session_json = serde_json::to_string(&session).unwrap_or_default();
                let form = reqwest::multipart::Form::new()
                    .part(
                        "sdp",
                        reqwest::multipart::Part::text(offer.to_owned())
                            .mime_str("application/sdp")
                            .map_err(|_| AppError::UpstreamFailed("multipart".into()))?,
                    )
                    .part(
                        "session",
                        reqwest::multipart::Part::text(session_json)
                            .mime_str("application/json")
                            .map_err(|_| AppError::UpstreamFailed("multipart".into()))?,
                    );
                self.http
                    .post(url)
                    .bearer_auth(self.key.expose())
                    .multipart(form)
            }
        };
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| self.send_error("create call", err))?;
        if response.status().as_u16() != 201 {
            return Err(Self::refusal("create call", response).await);
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let call_id = call_id_from_location(&location)
            .ok_or_else(|| AppError::UpstreamFailed("create call: no call id in Location".into()))?
            .to_owned();
        let answer = response
            .text()
            .await
            .map_err(|err| self.send_error("create call", err))?;
        if !answer.starts_with("v=0") {
            return Err(AppError::UpstreamFailed(
                "create call: the answer is not SDP".into(),
            ));
        }
        Ok(CreatedCall { answer, call_id })
    }

    async fn transcribe(
        &self,
        audio: bytes::Bytes,
        file_name: &str,
        policy: &CallPolicy,
        response_format: &str,
    ) -> Result<serde_json::Value> {
        let file = reqwest::multipart::Part::bytes(audio.to_vec()).file_name(file_name.to_owned());
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", policy.model.clone())
            .text("response_format", response_format.to_owned());
        if let Some(language) = &policy.language {
            form = form.text("language", language.clone());
        }
        if let Some(prompt) = policy
            .prompt
            .clone()
            .filter(|_| policy.model != "gpt-realtime-whisper")
        {
            form = form.text("prompt", prompt);
        }
        let response = self
            .http
            .post(format!("{}/audio/transcriptions", self.base_url))
            .bearer_auth(self.key.expose())
            // Uploads take longer than signalling.
            .timeout(self.timeout * 6)
            .multipart(form)
            .send()
            .await
            .map_err(|err| self.send_error("transcribe", err))?;
        if !response.status().is_success() {
            return Err(match response.status().as_u16() {
                400 => {
                    let _ = Self::refusal("transcribe", response).await;
                    AppError::InvalidRequest("the transcription service could not read this audio; send WAV, Ogg/Opus, FLAC, MP3, M4A or WebM".into())
                }
                _ => Self::refusal("transcribe", response).await,
            });
        }
        response
            .json()
            .await
            .map_err(|_| AppError::UpstreamFailed("transcribe: unexpected answer".into()))
    }

    async fn hangup(&self, call_id: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/realtime/calls/{call_id}/hangup", self.base_url))
            .bearer_auth(self.key.expose())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| self.send_error("hang up", err))?;
        match response.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(Self::refusal("hang up", response).await),
        }
    }
}
