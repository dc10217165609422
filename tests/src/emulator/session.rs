//! Session rules of the emulated API: validation with OpenAI's error wording, the effective
//! session a call runs with, and `session.update` merging.

use hark_wire::realtime::{
    InputAudio, ServerVad, SessionConfig, TRANSCRIPTION_MODELS, TranscriptionSession,
    TurnDetection, TurnMode,
};
use hark_wire::rest::ApiErrorResponse;
use serde_json::{Map, Value};

use super::audio::VadParams;

fn invalid(param: &str, code: &str, message: String) -> ApiErrorResponse {
    ApiErrorResponse::new("invalid_request_error", Some(code), message).with_param(param)
}

fn unknown_parameters(prefix: &str, extra: &Map<String, Value>) -> Result<(), ApiErrorResponse> {
    match extra.keys().next() {
        Some(key) => Err(invalid(
            &format!("{prefix}.{key}"),
            "unknown_parameter",
            format!("Unknown parameter: '{prefix}.{key}'."),
        )),
        None => Ok(()),
    }
}

/// Checks a session configuration the way the API would, with its messages.
pub(crate) fn validate(session: &SessionConfig) -> Result<(), ApiErrorResponse> {
    if let SessionConfig::Transcription(TranscriptionSession { extra, audio, .. }) = session {
        unknown_parameters("session", extra)?;
        if let Some(audio) = audio {
            unknown_parameters("session.audio", &audio.extra)?;
        }
    }
    let Some(input) = session.input_audio() else {
        return Ok(());
    };
    if matches!(session, SessionConfig::Transcription(_)) {
        unknown_parameters("session.audio.input", &input.extra)?;
    }
    let model = match &input.transcription {
        Some(transcription) => {
            if matches!(session, SessionConfig::Transcription(_)) {
                unknown_parameters("session.audio.input.transcription", &transcription.extra)?;
            }
            if let Some(model) = &transcription.model
                && !TRANSCRIPTION_MODELS.contains(&model.as_str())
            {
                let supported = TRANSCRIPTION_MODELS
                    .iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>();
                return Err(invalid(
                    "session.audio.input.transcription.model",
                    "invalid_value",
                    format!(
                        "Invalid value: '{model}'. Supported values are: {}.",
                        supported.join(", ")
                    ),
                ));
            }
            if let Some(language) = &transcription.language
                && !(language.len() == 2 && language.chars().all(|c| c.is_ascii_lowercase()))
            {
                return Err(invalid(
                    "session.audio.input.transcription.language",
                    "invalid_value",
                    format!(
                        "Invalid language '{language}'. Language parameter must be specified in ISO-639-1 format."
                    ),
                ));
            }
            if transcription.model.as_deref() == Some("gpt-realtime-whisper")
                && transcription.prompt.is_some()
            {
                return Err(invalid(
                    "session.audio.input.transcription.prompt",
                    "unsupported_parameter",
                    "Prompt is not supported with gpt-realtime-whisper.".to_owned(),
                ));
            }
            transcription.model.clone()
        }
        None => None,
    };
    if let Some(Some(turn_detection)) = &input.turn_detection {
        if let Some(model) = &model
            && TurnMode::for_model(model) == TurnMode::Manual
        {
            return Err(invalid(
                "session.audio.input.turn_detection",
                "invalid_value",
                format!(
                    "Turn detection is not supported for model '{model}'; set turn_detection to null and commit the input audio buffer."
                ),
            ));
        }
        if let TurnDetection::ServerVad(vad) = turn_detection
            && let Some(threshold) = vad.threshold
            && !(0.0..=1.0).contains(&threshold)
        {
            return Err(invalid(
                "session.audio.input.turn_detection.threshold",
                "decimal_above_max_value",
                format!(
                    "Invalid 'session.audio.input.turn_detection.threshold': expected a value between 0 and 1, but got {threshold} instead."
                ),
            ));
        }
    }
    Ok(())
}

/// The session as the call runs it: ids set and defaults spelled out, as `session.created` shows.
pub(crate) fn effective(mut session: SessionConfig, expires_at: i64) -> SessionConfig {
    let manual_model =
        session.transcription_model().map(TurnMode::for_model) == Some(TurnMode::Manual);
    let input: &mut InputAudio = session.input_audio_mut();
    match &input.turn_detection {
        // Absent: the server default, which manual-turn models do not have.
        None if manual_model => input.turn_detection = Some(None),
        None => input.turn_detection = Some(Some(TurnDetection::ServerVad(ServerVad::defaults()))),
        Some(Some(TurnDetection::ServerVad(vad))) => {
            let filled = ServerVad {
                threshold: Some(vad.threshold()),
                prefix_padding_ms: Some(vad.prefix_padding_ms()),
                silence_duration_ms: Some(vad.silence_duration_ms()),
                ..vad.clone()
            };
            input.turn_detection = Some(Some(TurnDetection::ServerVad(filled)));
        }
        Some(_) => {}
    }
    if input.noise_reduction.is_none() {
        input.noise_reduction = Some(None);
    }
    match &mut session {
        SessionConfig::Transcription(transcription) => {
            transcription
                .id
                .get_or_insert_with(|| super::new_id("sess_"));
            transcription.object = Some("realtime.transcription_session".to_owned());
            transcription.expires_at = Some(expires_at);
        }
        SessionConfig::Realtime(realtime) => {
            realtime.id.get_or_insert_with(|| super::new_id("sess_"));
            realtime.object = Some("realtime.session".to_owned());
            realtime
                .model
                .get_or_insert_with(|| "gpt-realtime".to_owned());
            realtime.expires_at = Some(expires_at);
        }
    }
    session
}

/// Server-VAD parameters of a session, or `None` when the client commits.
///
/// Semantic VAD is emulated as server VAD with the documented defaults.
pub(crate) fn vad_of(session: &SessionConfig) -> Option<VadParams> {
    match session.input_audio()?.turn_detection.as_ref()? {
        Some(TurnDetection::ServerVad(vad)) => Some(VadParams::from(vad)),
        Some(TurnDetection::SemanticVad(_)) => Some(VadParams::from(&ServerVad::defaults())),
        None => None,
    }
}

/// Whether logprobs were asked for with `include`.
pub(crate) fn wants_logprobs(session: &SessionConfig) -> bool {
    let include = match session {
        SessionConfig::Transcription(session) => &session.include,
        SessionConfig::Realtime(session) => &session.include,
    };
    include
        .iter()
        .flatten()
        .any(|item| item == "item.input_audio_transcription.logprobs")
}

/// Applies `session.update`: present fields replace, nested objects merge, `null` clears.
pub(crate) fn merge_update(
    current: &SessionConfig,
    update: &SessionConfig,
) -> Result<SessionConfig, ApiErrorResponse> {
    if std::mem::discriminant(current) != std::mem::discriminant(update) {
        return Err(invalid(
            "session.type",
            "invalid_value",
            "The session type cannot be changed by session.update.".to_owned(),
        ));
    }
    let mut merged = serde_json::to_value(current).unwrap_or_default();
    merge_json(
        &mut merged,
        serde_json::to_value(update).unwrap_or_default(),
    );
    let merged: SessionConfig = serde_json::from_value(merged).map_err(|err| {
        invalid(
            "session",
            "invalid_value",
            format!("Invalid session after update: {err}"),
        )
    })?;
    validate(&merged)?;
    Ok(merged)
}

fn merge_json(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_json(existing, value)
                    }
                    _ => {
                        target.insert(key, value);
                    }
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(json: &str) -> SessionConfig {
        serde_json::from_str(json).expect("session JSON")
    }

    #[test]
    fn validation_names_the_parameter() {
        let check = |json: &str, param: &str| {
            let err = validate(&session(json)).expect_err(json);
            assert_eq!(err.error.param.as_deref(), Some(param), "{json}");
        };
        check(r#"{"type":"transcription","bogus":1}"#, "session.bogus");
        check(
            r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-9"}}}}"#,
            "session.audio.input.transcription.model",
        );
        check(
            r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-live-transcribe"},"turn_detection":{"type":"server_vad"}}}}"#,
            "session.audio.input.turn_detection",
        );
        check(
            r#"{"type":"transcription","audio":{"input":{"transcription":{"language":"English"}}}}"#,
            "session.audio.input.transcription.language",
        );
        check(
            r#"{"type":"transcription","audio":{"input":{"turn_detection":{"type":"server_vad","threshold":1.5}}}}"#,
            "session.audio.input.turn_detection.threshold",
        );
        assert!(validate(&session(r#"{"type":"realtime","instructions":"hi"}"#)).is_ok());
    }

    #[test]
    fn effective_session_fills_defaults_by_model() {
        let vad = effective(
            session(
                r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"}}}}"#,
            ),
            1,
        );
        assert_eq!(
            vad_of(&vad).map(|v| (v.prefix_padding_ms, v.silence_duration_ms)),
            Some((300, 500))
        );
        let manual = effective(
            session(
                r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-live-transcribe"}}}}"#,
            ),
            1,
        );
        assert_eq!(vad_of(&manual), None);
        assert_eq!(manual.input_audio().unwrap().turn_detection, Some(None));
    }

    #[test]
    fn update_merges_nested_fields_and_null_turns_vad_off() {
        let current = effective(
            session(
                r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe","language":"en"}}}}"#,
            ),
            1,
        );
        let updated = merge_update(&current, &session(r#"{"type":"transcription","audio":{"input":{"transcription":{"prompt":"Kubernetes"},"turn_detection":{"type":"server_vad","silence_duration_ms":800}}}}"#)).unwrap();
        let transcription = updated
            .input_audio()
            .unwrap()
            .transcription
            .clone()
            .unwrap();
        assert_eq!(
            (
                transcription.language.as_deref(),
                transcription.prompt.as_deref()
            ),
            (Some("en"), Some("Kubernetes"))
        );
        assert_eq!(vad_of(&updated).map(|v| v.silence_duration_ms), Some(800));
        let off = merge_update(
            &updated,
            &session(r#"{"type":"transcription","audio":{"input":{"turn_detection":null}}}"#),
        )
        .unwrap();
        assert_eq!(vad_of(&off), None);
        assert!(merge_update(&off, &session(r#"{"type":"realtime"}"#)).is_err());
    }
}
