//! The emulator's REST surface: keys, client secrets, call forms, batch transcription, faults.

use std::time::Duration;

use hark_tests::dtmf::Script;
use hark_wire::realtime::SessionConfig;
use hark_wire::rest::{ClientSecretResponse, TranscriptionJson, TranscriptionVerboseJson};
use reqwest::StatusCode;
use serde_json::{Value, json};

use hark_tests::audio_files::{ogg_opus_bytes, wav_bytes};

use crate::support::{emulator, transcription_session};

/// Status and JSON body of a response.
async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts an OpenAI error body with `code` and `param`.
fn assert_error(body: &Value, code: Option<&str>, param: Option<&str>) {
    let error = &body["error"];
    assert_eq!(error["code"].as_str(), code, "{body}");
    assert_eq!(error["param"].as_str(), param, "{body}");
    assert!(
        error["type"].is_string() && error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn keys_are_checked_and_never_echoed_whole() {
    let emulator = emulator().await;
    let client = hark_tests::http();
    let url = format!("{}/realtime/client_secrets", emulator.base_url());
    let (status, body) = answer(client.post(&url).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_error(&body, None, None);
    let wrong = format!("sk-wrong-{}", uuid::Uuid::new_v4().simple());
    let (status, body) = answer(
        client
            .post(&url)
            .bearer_auth(&wrong)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_error(&body, Some("invalid_api_key"), None);
    assert!(
        !body.to_string().contains(&wrong),
        "the key is masked: {body}"
    );
    // Ephemeral keys cannot mint keys or hang up.
    let secret: ClientSecretResponse = client
        .post(&url)
        .bearer_auth(emulator.api_key())
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, _) = answer(
        client
            .post(&url)
            .bearer_auth(&secret.value)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let hangup = format!("{}/realtime/calls/rtc_nope/hangup", emulator.base_url());
    let (status, _) = answer(
        client
            .post(&hangup)
            .bearer_auth(&secret.value)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = answer(
        client
            .post(&hangup)
            .bearer_auth(emulator.api_key())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_error(&body, Some("call_not_found"), None);
    let (status, body) = answer(
        client
            .get(format!("{}/realtime/nothing", emulator.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid URL"),
        "{body}"
    );
}

#[tokio::test]
async fn client_secrets_validate_like_the_api() {
    let emulator = emulator().await;
    let client = hark_tests::http();
    let url = format!("{}/realtime/client_secrets", emulator.base_url());
    let post = |body: Value| {
        client
            .post(&url)
            .bearer_auth(emulator.api_key())
            .json(&body)
            .send()
    };
    let cases = [
        (
            json!({"expires_after": {"anchor": "created_at", "seconds": 5}}),
            "integer_below_min_value",
            "expires_after.seconds",
        ),
        (
            json!({"expires_after": {"seconds": 9000}}),
            "integer_above_max_value",
            "expires_after.seconds",
        ),
        (json!({"expiry": 60}), "unknown_parameter", "expiry"),
        (
            json!({"session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-9"}}}}}),
            "invalid_value",
            "session.audio.input.transcription.model",
        ),
        (
            json!({"session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-live-transcribe"}, "turn_detection": {"type": "server_vad"}}}}}),
            "invalid_value",
            "session.audio.input.turn_detection",
        ),
        (
            json!({"session": {"type": "transcription", "audio": {"input": {"noise": 1}}}}),
            "unknown_parameter",
            "session.audio.input.noise",
        ),
        (
            json!({"session": {"type": "conversation"}}),
            "invalid_value",
            "session",
        ),
    ];
    for (body, code, param) in cases {
        let (status, error) = answer(post(body.clone()).await.unwrap()).await;
        assert_eq!(status, 400, "{body}");
        assert_error(&error, Some(code), Some(param));
    }
    let (status, error) = answer(
        client
            .post(&url)
            .bearer_auth(emulator.api_key())
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&error, Some("invalid_json"), None);

    let session = transcription_session("gpt-live-transcribe", None);
    let (status, body) = answer(
        post(json!({"expires_after": {"anchor": "created_at", "seconds": 60}, "session": session}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret: ClientSecretResponse = serde_json::from_value(body).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 55..=now + 61).contains(&secret.expires_at));
    let SessionConfig::Transcription(session) = &secret.session else {
        panic!("transcription")
    };
    assert!(
        session
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with("sess_"))
    );
    assert_eq!(
        session.object.as_deref(),
        Some("realtime.transcription_session")
    );
    assert_eq!(
        secret.session.input_audio().unwrap().turn_detection,
        Some(None)
    );
}

#[tokio::test]
async fn call_creation_rejects_bad_requests() {
    let emulator = emulator().await;
    let client = hark_tests::http();
    let url = format!("{}/realtime/calls", emulator.base_url());
    let form = |sdp: &str| {
        reqwest::multipart::Form::new().part("sdp", reqwest::multipart::Part::text(sdp.to_owned()))
    };
    let key = emulator.api_key();
    let (status, body) = answer(
        client
            .post(&url)
            .bearer_auth(key)
            .json(&json!({"sdp": "v=0"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&body, Some("unsupported_content_type"), None);
    let (status, body) = answer(
        client
            .post(&url)
            .bearer_auth(key)
            .multipart(form(""))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&body, Some("missing_required_parameter"), Some("sdp"));
    for garbage in [
        "hello",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio",
    ] {
        let (status, body) = answer(
            client
                .post(&url)
                .bearer_auth(key)
                .multipart(form(garbage))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{garbage}");
        assert_error(&body, Some("invalid_offer"), Some("sdp"));
    }
    let with_extra = form("v=0").text("voice", "alloy");
    let (status, body) = answer(
        client
            .post(&url)
            .bearer_auth(key)
            .multipart(with_extra)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&body, Some("unknown_parameter"), Some("voice"));
    let bad_session = form("v=0").text(
        "session",
        r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"nope"}}}}"#,
    );
    let (status, body) = answer(
        client
            .post(&url)
            .bearer_auth(key)
            .multipart(bad_session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(
        &body,
        Some("invalid_value"),
        Some("session.audio.input.transcription.model"),
    );
    let (status, _) = answer(
        client
            .post(&url)
            .bearer_auth("ek_unknown")
            .header("content-type", "application/sdp")
            .body("v=0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn ephemeral_keys_expire() {
    let emulator = emulator().await;
    let client = hark_tests::http();
    let secret: ClientSecretResponse = client
        .post(format!("{}/realtime/client_secrets", emulator.base_url()))
        .bearer_auth(emulator.api_key())
        .json(&json!({"expires_after": {"anchor": "created_at", "seconds": 10}, "session": transcription_session("gpt-4o-transcribe", None)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let (status, body) = answer(
        client
            .post(format!("{}/realtime/calls", emulator.base_url()))
            .bearer_auth(&secret.value)
            .header("content-type", "application/sdp")
            .body("v=0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn faults_are_set_and_reset_over_http() {
    let emulator = emulator().await;
    let client = hark_tests::http();
    let control = format!("http://{}/_emulator/faults", emulator.addr());
    let status = client
        .put(&control)
        .json(&json!({"reject_status": 418}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400, "an unsupported status is refused");
    let refused = client
        .put(&control)
        .json(&json!({"network_down_for_ms": 3000}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        400,
        "a network cut with no moment to cut it"
    );
    let why = refused.text().await.unwrap();
    assert!(why.contains("needs network_down_at_utterance"), "{why}");
    let status = client
        .put(&control)
        .json(&json!({"rejectStatus": 503}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 422, "unknown fault names are refused");
    let status = client
        .put(&control)
        .json(&json!({"reject_status": 503, "retry_after_secs": 3}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let secrets = format!("{}/realtime/client_secrets", emulator.base_url());
    let response = client
        .post(&secrets)
        .bearer_auth(emulator.api_key())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(client.delete(&control).send().await.unwrap().status(), 204);
    let response = client
        .post(&secrets)
        .bearer_auth(emulator.api_key())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn post_audio(
    base_url: &str,
    key: &str,
    file: Vec<u8>,
    name: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(file).file_name(name.to_owned()),
    );
    for (field, value) in fields {
        form = form.text(field.to_string(), value.to_string());
    }
    hark_tests::http()
        .post(format!("{base_url}/audio/transcriptions"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn batch_transcription_reads_wav_and_ogg_opus() {
    let emulator = emulator().await;
    let (url, key) = (emulator.base_url(), emulator.api_key().to_owned());

    // 44.1 kHz stereo WAV.
    let wav_script = Script::at_rate(44_100)
        .pause(400)
        .say("4 1 7")
        .pause(900)
        .say("2 2")
        .pause(600);
    let response = post_audio(
        &url,
        &key,
        wav_bytes(wav_script.samples(), 44_100, 2),
        "a.wav",
        &[("model", "gpt-4o-transcribe")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let json: TranscriptionJson = response.json().await.unwrap();
    assert_eq!(json.text, "4 1 7 2 2");

    // Ogg/Opus with timed segments from whisper-1.
    let ogg_script = Script::new()
        .pause(1000)
        .say("9 8")
        .pause(1000)
        .say("* 0")
        .pause(300);
    let ogg = ogg_opus_bytes(ogg_script.samples());
    let response = post_audio(
        &url,
        &key,
        ogg.clone(),
        "a.ogg",
        &[
            ("model", "whisper-1"),
            ("response_format", "verbose_json"),
            ("language", "en"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let verbose: TranscriptionVerboseJson = response.json().await.unwrap();
    assert_eq!(verbose.text, "9 8 * 0");
    let segments = verbose.segments.unwrap();
    assert_eq!(
        segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
        ["9 8", "* 0"]
    );
    // The second utterance starts at 1000 + 320 + 1000 ms, less the 300 ms default padding.
    assert!((segments[1].start - 2.02).abs() < 0.05, "{segments:?}");
    assert!((verbose.duration - ogg_script.samples().len() as f64 / 48_000.0).abs() < 0.03);

    let response = post_audio(
        &url,
        &key,
        ogg.clone(),
        "a.ogg",
        &[("model", "whisper-1"), ("response_format", "srt")],
    )
    .await;
    let srt = response.text().await.unwrap();
    assert!(srt.starts_with("1\n00:00:00,700 --> "), "{srt}");
    assert!(srt.contains("\n* 0\n"), "{srt}");

    let response = post_audio(
        &url,
        &key,
        ogg,
        "a.ogg",
        &[
            ("model", "gpt-4o-transcribe"),
            ("response_format", "verbose_json"),
        ],
    )
    .await;
    let (status, body) = answer(response).await;
    assert_eq!(status, 400);
    assert_error(&body, Some("unsupported_value"), Some("response_format"));
}

#[tokio::test]
async fn batch_transcription_rejects_bad_uploads() {
    let emulator = emulator().await;
    let (url, key) = (emulator.base_url(), emulator.api_key().to_owned());
    let wav = wav_bytes(Script::new().say("1").samples(), 48_000, 1);
    let (status, body) = answer(post_audio(&url, &key, wav.clone(), "a.wav", &[]).await).await;
    assert_eq!(status, 400);
    assert_error(&body, Some("missing_required_parameter"), Some("model"));
    let (status, body) = answer(
        post_audio(
            &url,
            &key,
            b"ID3\x03fake mp3".to_vec(),
            "a.mp3",
            &[("model", "whisper-1")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&body, Some("invalid_value"), Some("file"));
    let mut truncated = wav.clone();
    truncated.truncate(30);
    let (status, _) =
        answer(post_audio(&url, &key, truncated, "a.wav", &[("model", "whisper-1")]).await).await;
    assert_eq!(status, 400);
    // The emulator answers 413 once the limit is crossed; the client may see its upload cut
    // instead of the answer, so try a few times.
    let mut big = None;
    for _ in 0..5 {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(vec![0u8; 26 * 1024 * 1024]).file_name("big.wav"),
            )
            .text("model", "whisper-1");
        let sent = hark_tests::http()
            .post(format!("{url}/audio/transcriptions"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await;
        if let Ok(response) = sent {
            big = Some(answer(response).await);
            break;
        }
    }
    let (status, body) = big.expect("an answer to the oversized upload");
    assert_eq!(status, 413);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("26214400"),
        "{body}"
    );
}
