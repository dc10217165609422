//! Round trips of OpenAI's own examples (see `tests/fixtures/README.md`) and decoder tolerance.

use serde_json::Value;

use super::*;
use crate::WireError;

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("read {full}: {err}"))
}

/// `null` and an absent field mean the same for every field except `turn_detection` and
/// `noise_reduction`, which have dedicated tests; compare with nulls removed.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Decodes a server-event fixture, checks its variant, re-encodes it and compares.
fn check_server(path: &str, expected_type: &str) -> ServerEvent {
    let text = fixture(path);
    let event = ServerEvent::from_json(&text).expect("fixture decodes");
    assert_eq!(event.event_type(), expected_type, "{path}");
    assert!(
        !matches!(event, ServerEvent::Unknown(_)),
        "{path} decoded as Unknown"
    );
    let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let encoded: Value = serde_json::from_str(&event.to_json()).expect("encoded is JSON");
    assert_eq!(
        without_nulls(encoded),
        without_nulls(original),
        "{path} round trip"
    );
    event
}

fn check_client(path: &str) -> ClientEvent {
    let text = fixture(path);
    let event = ClientEvent::from_json(&text).expect("fixture decodes");
    assert!(
        !matches!(event, ClientEvent::Unknown(_)),
        "{path} decoded as Unknown"
    );
    let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let encoded: Value = serde_json::from_str(&event.to_json()).expect("encoded is JSON");
    assert_eq!(
        without_nulls(encoded),
        without_nulls(original),
        "{path} round trip"
    );
    event
}

#[test]
fn spec_server_events_round_trip() {
    let created = check_server("server/session_created.json", "session.created");
    let ServerEvent::SessionCreated(created) = created else {
        unreachable!()
    };
    let SessionConfig::Realtime(session) = created.session else {
        panic!("realtime session")
    };
    assert_eq!(session.model.as_deref(), Some("gpt-realtime-2025-08-28"));
    let turn = session.audio.unwrap().input.unwrap().turn_detection;
    let Some(Some(TurnDetection::ServerVad(vad))) = turn else {
        panic!("server vad")
    };
    assert_eq!(
        (
            vad.threshold(),
            vad.prefix_padding_ms(),
            vad.silence_duration_ms()
        ),
        (0.5, 300, 200)
    );

    check_server("server/session_updated.json", "session.updated");
    let started = check_server(
        "server/speech_started.json",
        "input_audio_buffer.speech_started",
    );
    assert_eq!(
        started,
        ServerEvent::SpeechStarted(SpeechStarted {
            event_id: "event_1516".into(),
            item_id: "msg_003".into(),
            audio_start_ms: 1000
        })
    );
    check_server(
        "server/speech_stopped.json",
        "input_audio_buffer.speech_stopped",
    );
    let committed = check_server("server/committed.json", "input_audio_buffer.committed");
    let ServerEvent::Committed(committed) = committed else {
        unreachable!()
    };
    assert_eq!(committed.previous_item_id.as_deref(), Some("msg_001"));
    check_server("server/cleared.json", "input_audio_buffer.cleared");
    let delta = check_server(
        "server/transcription_delta.json",
        "conversation.item.input_audio_transcription.delta",
    );
    let ServerEvent::TranscriptionDelta(delta) = delta else {
        unreachable!()
    };
    assert_eq!(delta.delta, "Hey");
    let completed = check_server(
        "server/transcription_completed.json",
        "conversation.item.input_audio_transcription.completed",
    );
    let ServerEvent::TranscriptionCompleted(completed) = completed else {
        unreachable!()
    };
    assert_eq!(completed.transcript, "Hey, can you hear me?");
    assert!(matches!(
        completed.usage,
        Some(Usage::Tokens {
            total_tokens: 22,
            ..
        })
    ));
    check_server(
        "server/transcription_segment.json",
        "conversation.item.input_audio_transcription.segment",
    );
    let failed = check_server(
        "server/transcription_failed.json",
        "conversation.item.input_audio_transcription.failed",
    );
    let ServerEvent::TranscriptionFailed(failed) = failed else {
        unreachable!()
    };
    assert_eq!(failed.error.code.as_deref(), Some("audio_unintelligible"));
    let error = check_server("server/error.json", "error");
    let ServerEvent::Error(error) = error else {
        unreachable!()
    };
    assert_eq!(error.error.event_id.as_deref(), Some("event_567"));
}

#[test]
fn spec_client_events_round_trip() {
    assert_eq!(
        check_client("client/commit.json").event_type(),
        "input_audio_buffer.commit"
    );
    assert_eq!(
        check_client("client/commit.json"),
        ClientEvent::Commit {
            event_id: Some("event_789".into())
        }
    );
    assert!(matches!(
        check_client("client/clear.json"),
        ClientEvent::Clear { .. }
    ));
    assert!(matches!(
        check_client("client/append.json"),
        ClientEvent::Append { .. }
    ));
    let ClientEvent::SessionUpdate(update) = check_client("client/session_update.json") else {
        panic!("session.update")
    };
    let SessionConfig::Realtime(session) = update.session else {
        panic!("realtime")
    };
    assert!(
        session.extra.contains_key("tools"),
        "unmodelled fields are kept"
    );
}

#[test]
fn unknown_event_types_are_kept_not_rejected() {
    for path in [
        "server/unknown_rate_limits_updated.json",
        "server/unknown_timeout_triggered.json",
    ] {
        let text = fixture(path);
        let event = ServerEvent::from_json(&text).expect("unknown types decode");
        let ServerEvent::Unknown(raw) = &event else {
            panic!("{path}: expected Unknown")
        };
        assert_eq!(raw, &serde_json::from_str::<Value>(&text).unwrap());
        let again: Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(&again, raw, "Unknown re-encodes verbatim");
    }
    let client = ClientEvent::from_json(r#"{"type":"response.create","event_id":"e1"}"#).unwrap();
    assert!(matches!(client, ClientEvent::Unknown(_)));
    assert_eq!(client.event_id(), Some("e1"));
    assert_eq!(client.event_type(), "response.create");
}

#[test]
fn extra_fields_on_known_events_are_ignored() {
    let text = r#"{"type":"input_audio_buffer.speech_stopped","event_id":"e","item_id":"i",
        "audio_end_ms":20,"brand_new_field":{"x":1}}"#;
    let event = ServerEvent::from_json(text).unwrap();
    assert_eq!(
        event,
        ServerEvent::SpeechStopped(SpeechStopped {
            event_id: "e".into(),
            item_id: "i".into(),
            audio_end_ms: 20
        })
    );
}

#[test]
fn malformed_messages_are_errors_that_say_what_is_wrong() {
    let not_json = ServerEvent::from_json(r#"{"type":"conversation.item.input_audio_"#);
    assert!(
        matches!(not_json, Err(WireError::NotJson(_))),
        "{not_json:?}"
    );

    let no_type = ServerEvent::from_json(r#"{"event_id":"e"}"#);
    assert!(matches!(no_type, Err(WireError::MissingType)));

    let wrong_field = ServerEvent::from_json(
        r#"{"type":"input_audio_buffer.speech_started","event_id":"e","item_id":"i","audio_start_ms":"soon"}"#,
    )
    .unwrap_err();
    let message = wrong_field.to_string();
    assert!(
        message.contains("input_audio_buffer.speech_started"),
        "{message}"
    );
    assert!(message.contains("invalid type"), "{message}");

    let missing =
        ServerEvent::from_json(r#"{"type":"input_audio_buffer.committed","event_id":"e"}"#)
            .unwrap_err()
            .to_string();
    assert!(missing.contains("item_id"), "{missing}");
}

#[test]
fn transcription_session_turn_detection_null_differs_from_absent() {
    let off: SessionConfig = serde_json::from_str(
        r#"{"type":"transcription","audio":{"input":{"turn_detection":null,
            "transcription":{"model":"gpt-live-transcribe"}}}}"#,
    )
    .unwrap();
    assert_eq!(off.input_audio().unwrap().turn_detection, Some(None));
    assert_eq!(off.transcription_model(), Some("gpt-live-transcribe"));
    let encoded: Value = serde_json::to_value(&off).unwrap();
    assert_eq!(encoded["audio"]["input"]["turn_detection"], Value::Null);
    assert!(
        encoded["audio"]["input"]
            .as_object()
            .unwrap()
            .contains_key("turn_detection")
    );

    let default: SessionConfig =
        serde_json::from_str(r#"{"type":"transcription","audio":{"input":{}}}"#).unwrap();
    assert_eq!(default.input_audio().unwrap().turn_detection, None);
    let encoded = serde_json::to_value(&default).unwrap();
    assert!(
        !encoded["audio"]["input"]
            .as_object()
            .unwrap()
            .contains_key("turn_detection")
    );
}

#[test]
fn spec_transcription_session_object_round_trips() {
    let text = fixture("rest/transcription_session.json");
    let session: SessionConfig = serde_json::from_str(&text).unwrap();
    let SessionConfig::Transcription(ref transcription) = session else {
        panic!("transcription")
    };
    assert_eq!(
        transcription.id.as_deref(),
        Some("sess_BBwZc7cFV3XizEyKGDCGL")
    );
    let input = session.input_audio().unwrap();
    assert_eq!(input.format, Some(AudioFormat::Named("pcm16".into())));
    assert_eq!(session.transcription_model(), Some("gpt-4o-transcribe"));
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        without_nulls(serde_json::to_value(&session).unwrap()),
        without_nulls(original)
    );
}

#[test]
fn turn_mode_follows_the_model() {
    assert_eq!(TurnMode::for_model("gpt-live-transcribe"), TurnMode::Manual);
    assert_eq!(
        TurnMode::for_model("gpt-realtime-whisper"),
        TurnMode::Manual
    );
    assert_eq!(
        TurnMode::for_model("gpt-4o-transcribe"),
        TurnMode::ServerVad
    );
    assert_eq!(TurnMode::for_model("whisper-1"), TurnMode::ServerVad);
    for model in MANUAL_TURN_MODELS {
        assert!(TRANSCRIPTION_MODELS.contains(model));
    }
}
