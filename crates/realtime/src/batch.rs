//! Batch transcription through Hark's proxy (`POST /v1/transcriptions`): how audio a live call
//! missed (offline, a dropped call, a transcript that never finished) is transcribed afterwards.

use std::time::Duration;

use hark_wire::rest::TranscriptionJson;
use uuid::Uuid;

use crate::client::ask_proxy;
use crate::error::{RealtimeError, Result};

/// How long one file may take: OpenAI transcribes a minute of audio in a few seconds, so this
/// is for a slow network, not the service.
const TRANSCRIBE_TIMEOUT: Duration = Duration::from_secs(120);

/// One piece of audio to transcribe, as a WAV file.
#[derive(Debug, Clone)]
pub struct Transcribe<'a> {
    /// The proxy's base URL (`…/v1`).
    pub proxy_url: &'a str,
    /// The user's access token (`None` for a `--dev` proxy).
    pub token: Option<&'a str>,
    /// The interview the audio belongs to (the proxy applies its organisation's policy).
    pub interview_id: Uuid,
    /// `microphone` or `system`.
    pub source: &'a str,
    /// ISO-639-1 language hint.
    pub language: Option<&'a str>,
    /// Vocabulary prompt.
    pub prompt: Option<&'a str>,
    /// The audio.
    pub wav: Vec<u8>,
}

/// Transcribes `request.wav`; returns the text (empty when nothing was said).
pub async fn transcribe(http: &reqwest::Client, request: Transcribe<'_>) -> Result<String> {
    let url = format!("{}/transcriptions", request.proxy_url.trim_end_matches('/'));
    let file = reqwest::multipart::Part::bytes(request.wav)
        .file_name("audio.wav")
        .mime_str("audio/wav")
        .map_err(|err| RealtimeError::BadAnswer(err.to_string()))?;
    let mut form = reqwest::multipart::Form::new()
        .part("file", file)
        .text("interview_id", request.interview_id.to_string())
        .text("source", request.source.to_owned())
        .text("response_format", "json");
    if let Some(language) = request.language {
        form = form.text("language", language.to_owned());
    }
    if let Some(prompt) = request.prompt {
        form = form.text("prompt", prompt.to_owned());
    }
    let builder = http.post(&url).multipart(form).timeout(TRANSCRIBE_TIMEOUT);
    let body: TranscriptionJson =
        ask_proxy(builder, &url, request.token, "transcription", |status| {
            status.is_success()
        })
        .await?;
    Ok(body.text.trim().to_owned())
}
