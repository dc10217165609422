//! `POST /v1/audio/transcriptions`: decodes an uploaded WAV or Ogg/Opus file and "recognises"
//! its DTMF utterances the same way live calls do.

use axum::Json;
use axum::extract::Multipart;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hark_wire::realtime::{ServerVad, TRANSCRIPTION_MODELS};
use hark_wire::rest::{
    ApiErrorResponse, TranscriptionJson, TranscriptionVerboseJson, VerboseSegment,
};

use super::audio::{self, BufferEvent, FrameCutter, InputBuffer, VadParams};
use super::call::usage_for;
use super::http::{MAX_UPLOAD_BYTES, OpenAiError};

/// One recognised utterance of an uploaded file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Utterance {
    pub(crate) start_ms: u64,
    pub(crate) end_ms: u64,
    pub(crate) text: String,
}

/// Decoded, mono audio.
pub(crate) struct Pcm {
    pub(crate) samples: Vec<f32>,
    pub(crate) sample_rate: u32,
}

pub(crate) async fn transcribe(mut form: Multipart) -> Result<Response, OpenAiError> {
    let mut file: Option<Vec<u8>> = None;
    let (mut model, mut response_format, mut language) = (None, "json".to_owned(), None);
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        match name.as_str() {
            "file" => {
                if bytes.len() > MAX_UPLOAD_BYTES {
                    return Err(too_large(bytes.len()));
                }
                file = Some(bytes.to_vec());
            }
            "model" => model = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "response_format" => response_format = String::from_utf8_lossy(&bytes).into_owned(),
            "language" => language = Some(String::from_utf8_lossy(&bytes).into_owned()),
            // Accepted and, like the real service for DTMF, without effect on the result.
            "prompt"
            | "temperature"
            | "chunking_strategy"
            | "include[]"
            | "timestamp_granularities[]"
            | "stream" => {}
            other => {
                return Err(OpenAiError::bad_request(
                    Some("unknown_parameter"),
                    Some(other),
                    format!("Unknown parameter: '{other}'."),
                ));
            }
        }
    }
    let file = file.ok_or_else(|| {
        OpenAiError::bad_request(
            Some("missing_required_parameter"),
            Some("file"),
            "Missing required parameter: 'file'.",
        )
    })?;
    let model = model.ok_or_else(|| {
        OpenAiError::bad_request(
            Some("missing_required_parameter"),
            Some("model"),
            "Missing required parameter: 'model'.",
        )
    })?;
    if !TRANSCRIPTION_MODELS.contains(&model.as_str()) {
        return Err(OpenAiError::bad_request(
            Some("invalid_value"),
            Some("model"),
            format!(
                "Invalid value: '{model}'. Supported values are: {}.",
                TRANSCRIPTION_MODELS.join(", ")
            ),
        ));
    }
    check_format(&model, &response_format)?;
    // Decoding up to 25 MiB is CPU work: keep it off the async workers that carry the calls.
    let decoded = tokio::task::spawn_blocking(move || {
        decode(&file).map(|pcm| {
            let duration_ms = pcm.samples.len() as u64 * 1000 / pcm.sample_rate.max(1) as u64;
            (duration_ms, utterances(&pcm))
        })
    })
    .await
    .map_err(|_| OpenAiError::bad_request(None, Some("file"), "the audio could not be decoded"))?;
    let (duration_ms, utterances) = decoded.map_err(|message| {
        OpenAiError::bad_request(Some("invalid_value"), Some("file"), message)
    })?;
    let text = utterances
        .iter()
        .map(|u| u.text.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let n_words = text.split_whitespace().count() as u64;
    let usage = usage_for(&model, duration_ms, n_words);
    let response = match response_format.as_str() {
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{text}\n"),
        )
            .into_response(),
        "verbose_json" => Json(TranscriptionVerboseJson {
            task: Some("transcribe".to_owned()),
            language: language.unwrap_or_else(|| "english".to_owned()),
            duration: duration_ms as f64 / 1000.0,
            text,
            segments: Some(
                utterances
                    .iter()
                    .enumerate()
                    .map(|(idx, u)| VerboseSegment {
                        id: idx as u32,
                        start: u.start_ms as f64 / 1000.0,
                        end: u.end_ms as f64 / 1000.0,
                        text: u.text.clone(),
                    })
                    .collect(),
            ),
            usage: Some(usage),
        })
        .into_response(),
        "srt" | "vtt" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            subtitles(&utterances, response_format == "vtt"),
        )
            .into_response(),
        "diarized_json" => Json(serde_json::json!({
            "task": "transcribe",
            "duration": duration_ms as f64 / 1000.0,
            "text": text,
            "segments": utterances.iter().enumerate().map(|(idx, u)| serde_json::json!({
                "type": "transcript.text.segment", "id": format!("seg_{:03}", idx + 1),
                "start": u.start_ms as f64 / 1000.0, "end": u.end_ms as f64 / 1000.0,
                "text": u.text, "speaker": "A",
            })).collect::<Vec<_>>(),
            "usage": usage,
        }))
        .into_response(),
        _ => Json(TranscriptionJson {
            text,
            languages: None,
            logprobs: None,
            usage: Some(usage),
        })
        .into_response(),
    };
    Ok(response)
}

/// Which `response_format` each model accepts, as the spec documents.
fn check_format(model: &str, format: &str) -> Result<(), OpenAiError> {
    let allowed: &[&str] = match model {
        "whisper-1" => &["json", "text", "srt", "verbose_json", "vtt"],
        "gpt-4o-transcribe-diarize" => &["json", "text", "diarized_json"],
        _ => &["json", "text"],
    };
    if allowed.contains(&format) {
        Ok(())
    } else {
        Err(OpenAiError::bad_request(
            Some("unsupported_value"),
            Some("response_format"),
            format!(
                "response_format '{format}' is not compatible with model '{model}'. Use one of: {}.",
                allowed.join(", ")
            ),
        ))
    }
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> OpenAiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(MAX_UPLOAD_BYTES + 1);
    }
    OpenAiError::bad_request(None, None, format!("Invalid multipart body: {err}"))
}

fn too_large(n_bytes: usize) -> OpenAiError {
    OpenAiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ApiErrorResponse::new(
            "invalid_request_error",
            None,
            format!(
                "Maximum content size limit ({MAX_UPLOAD_BYTES}) exceeded ({n_bytes} bytes read)"
            ),
        ),
    )
}

/// Decodes WAV (any PCM layout) or Ogg/Opus to mono.
pub(crate) fn decode(bytes: &[u8]) -> Result<Pcm, String> {
    if bytes.starts_with(b"RIFF") {
        decode_wav(bytes)
    } else if bytes.starts_with(b"OggS") {
        decode_ogg_opus(bytes)
    } else {
        Err("Invalid file format. The emulator decodes WAV and Ogg/Opus files (OpenAI also takes flac, m4a, mp3, mp4, mpeg, mpga, oga and webm).".to_owned())
    }
}

fn decode_wav(bytes: &[u8]) -> Result<Pcm, String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|err| format!("Invalid WAV file: {err}"))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 / scale))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|err| format!("Corrupt WAV data: {err}"))?;
    Ok(Pcm {
        samples: downmix(&samples, spec.channels as usize),
        sample_rate: spec.sample_rate,
    })
}

fn decode_ogg_opus(bytes: &[u8]) -> Result<Pcm, String> {
    let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes));
    let head = reader
        .read_packet()
        .map_err(|err| format!("Invalid Ogg file: {err}"))?
        .ok_or("Empty Ogg file")?;
    if !head.data.starts_with(b"OpusHead") || head.data.len() < 19 {
        return Err("The Ogg file does not hold an Opus stream (no OpusHead)".to_owned());
    }
    let channels = head.data[9] as usize;
    let pre_skip = u16::from_le_bytes([head.data[10], head.data[11]]) as usize;
    let opus_channels = match channels {
        1 => opus::Channels::Mono,
        2 => opus::Channels::Stereo,
        n => {
            return Err(format!(
                "Ogg/Opus with {n} channels is not supported; use mono or stereo"
            ));
        }
    };
    let mut decoder = opus::Decoder::new(48_000, opus_channels).map_err(|err| err.to_string())?;
    let mut interleaved = vec![0.0f32; 5760 * channels];
    let mut samples = Vec::new();
    while let Some(packet) = reader
        .read_packet()
        .map_err(|err| format!("Corrupt Ogg page: {err}"))?
    {
        if packet.data.starts_with(b"OpusTags") {
            continue;
        }
        let n = decoder
            .decode_float(&packet.data, &mut interleaved, false)
            .map_err(|err| format!("Corrupt Opus packet: {err}"))?;
        samples.extend(downmix(&interleaved[..n * channels], channels));
    }
    samples.drain(..pre_skip.min(samples.len()));
    Ok(Pcm {
        samples,
        sample_rate: 48_000,
    })
}

fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Splits audio into utterances with default server VAD and recognises each.
pub(crate) fn utterances(pcm: &Pcm) -> Vec<Utterance> {
    let mut buffer = InputBuffer::new(Some(VadParams::from(&ServerVad::defaults())));
    let mut cutter = FrameCutter::new(pcm.sample_rate);
    let mut utterances = Vec::new();
    let mut start_ms = 0;
    for frame in cutter.push(&pcm.samples) {
        match buffer.push(frame) {
            Some(BufferEvent::SpeechStarted { audio_start_ms }) => start_ms = audio_start_ms,
            Some(BufferEvent::SpeechStopped {
                audio_end_ms,
                frames,
            }) => utterances.push(Utterance {
                start_ms,
                end_ms: audio_end_ms,
                text: audio::transcript(&frames),
            }),
            None => {}
        }
    }
    // Speech running into the end of the file.
    if buffer.in_speech()
        && let Ok(frames) = buffer.commit()
    {
        utterances.push(Utterance {
            start_ms,
            end_ms: buffer.total_ms(),
            text: audio::transcript(&frames),
        });
    }
    utterances
}

fn subtitles(utterances: &[Utterance], vtt: bool) -> String {
    let stamp = |ms: u64| {
        let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        if vtt {
            format!("{h:02}:{m:02}:{s:02}.{milli:03}")
        } else {
            format!("{h:02}:{m:02}:{s:02},{milli:03}")
        }
    };
    let mut out = if vtt {
        "WEBVTT\n\n".to_owned()
    } else {
        String::new()
    };
    for (idx, u) in utterances.iter().enumerate() {
        if !vtt {
            out.push_str(&format!("{}\n", idx + 1));
        }
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            stamp(u.start_ms),
            stamp(u.end_ms),
            u.text
        ));
    }
    out
}
