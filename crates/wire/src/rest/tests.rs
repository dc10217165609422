//! REST shapes against OpenAI's examples, and `Location` parsing.

use serde_json::Value;

use super::*;

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("read {full}: {err}"))
}

#[test]
fn spec_client_secret_response_decodes() {
    let response: ClientSecretResponse =
        serde_json::from_str(&fixture("rest/client_secret_response.json")).unwrap();
    assert_eq!(response.value, "ek_68af296e8e408191a1120ab6383263c2");
    assert_eq!(response.expires_at, 1756310470);
    assert!(matches!(response.session, SessionConfig::Realtime(_)));
}

#[test]
fn spec_transcription_json_decodes() {
    let response: TranscriptionJson =
        serde_json::from_str(&fixture("rest/transcription_json.json")).unwrap();
    assert!(response.text.starts_with("Imagine the wildest idea"));
    assert!(matches!(
        response.usage,
        Some(Usage::Tokens {
            total_tokens: 115,
            ..
        })
    ));
}

#[test]
fn client_secret_request_matches_the_documented_transcription_form() {
    let request: ClientSecretRequest = serde_json::from_str(
        r#"{"expires_after":{"anchor":"created_at","seconds":60},
            "session":{"type":"transcription","audio":{"input":{
              "transcription":{"model":"gpt-4o-transcribe","language":"en","prompt":"Kubernetes"},
              "turn_detection":{"type":"server_vad","threshold":0.4,"silence_duration_ms":600}}}}}"#,
    )
    .unwrap();
    assert_eq!(request.expires_after, Some(ExpiresAfter::seconds(60)));
    let session = request.session.unwrap();
    let input = session.input_audio().unwrap();
    assert_eq!(
        input.transcription.as_ref().unwrap().language.as_deref(),
        Some("en")
    );
    let Some(Some(crate::realtime::TurnDetection::ServerVad(vad))) = &input.turn_detection else {
        panic!("server vad")
    };
    assert_eq!(
        (
            vad.threshold(),
            vad.prefix_padding_ms(),
            vad.silence_duration_ms()
        ),
        (0.4, 300, 600)
    );
}

#[test]
fn api_error_has_openai_shape() {
    let body = ApiErrorResponse::new("invalid_request_error", Some("invalid_api_key"), "Bad key")
        .with_param("authorization");
    let value: Value = serde_json::to_value(&body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"error": {"message": "Bad key", "type": "invalid_request_error",
            "param": "authorization", "code": "invalid_api_key"}})
    );
}

#[test]
fn call_id_is_read_from_location() {
    let check = |location: &str, expected: Option<&str>| {
        assert_eq!(call_id_from_location(location), expected, "{location}");
    };
    check("/v1/realtime/calls/rtc_abc123", Some("rtc_abc123"));
    check(
        "https://api.openai.com/v1/realtime/calls/rtc_u1_9x",
        Some("rtc_u1_9x"),
    );
    check(
        "/openai/v1/realtime/calls/rtc_azure?api-version=x",
        Some("rtc_azure"),
    );
    check("/v1/realtime/calls/", None);
    check("/v1/realtime/calls/rtc_1/../../etc", None);
    check("/v1/something/else", None);
}
