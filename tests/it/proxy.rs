//! The SDP proxy end to end: a webrtc-rs caller, the proxy, the emulator as OpenAI, and the real
//! Supabase stack for users and policy; plus its refusals (tokens, requests, policy, upstream).

use std::collections::HashMap;

use base64::Engine;
use hark_tests::caller::{CallForm, Caller, Refusal};
use hark_tests::dtmf::Script;
use hark_tests::emulator::{Emulator, EndReason, Faults};
use hark_tests::supabase::{Project, Session, send};
use hark_wire::realtime::ServerEvent;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{WAIT, emulator, proxy};

/// Dials through `proxy` as `who` (no token: the `--dev` user) for `interview`.
async fn dial_as(proxy: &str, who: Option<&Session>, interview: Uuid) -> anyhow::Result<Caller> {
    let token = who.map(|session| session.access_token.clone());
    Caller::dial(
        proxy,
        CallForm::Proxy {
            token,
            interview_id: interview.to_string(),
        },
    )
    .await
}

/// An organisation with a recruiter, a viewer, and an interview.
struct Org {
    owner: Session,
    recruiter: Session,
    viewer: Session,
    org: Uuid,
    interview: Uuid,
}

async fn org(project: &Project) -> Org {
    let (owner, recruiter, viewer) = (
        project.new_user("owner").await,
        project.new_user("rec").await,
        project.new_user("view").await,
    );
    let org = project
        .organization(&owner, &[(&recruiter, "recruiter"), (&viewer, "viewer")])
        .await;
    let interview = project.interview(&owner, org).await;
    Org {
        owner,
        recruiter,
        viewer,
        org,
        interview,
    }
}

fn refusal(err: anyhow::Error) -> (u16, Value, Option<String>) {
    let refusal = err.downcast::<Refusal>().expect("an HTTP refusal");
    (
        refusal.status,
        serde_json::from_str(&refusal.body).unwrap_or(Value::Null),
        refusal.retry_after,
    )
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_needs_no_supabase() {
    let emulator = emulator().await;
    let proxy = proxy(&emulator, None, &[]).await;
    let mut caller = Caller::dial(
        &proxy,
        CallForm::Proxy {
            token: None,
            interview_id: Uuid::new_v4().to_string(),
        },
    )
    .await
    .unwrap();
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    let script = Script::new().pause(200).say("7 3").pause(800);
    caller.play(script.samples()).await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();
    assert_eq!(caller.transcripts(), script.expected_transcripts());
    let health = hark_tests::http()
        .get(proxy.replace("/v1", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = hark_tests::http()
        .get(proxy.replace("/v1", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hark_proxy_requests_total{route=\"sessions\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hark_proxy_active_calls 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recruiter_records_through_the_proxy_and_hangs_up() {
    let project = Project::from_env();
    let o = org(&project).await;
    let emulator = emulator().await;
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let ready = hark_tests::http()
        .get(proxy.replace("/v1", "/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let mut caller = dial_as(&proxy, Some(&o.recruiter), o.interview)
        .await
        .unwrap();
    let answer = caller.proxy_answer.clone().unwrap();
    assert_eq!(
        (answer["model"].as_str(), answer["turn_detection"].as_str()),
        (Some("gpt-4o-transcribe"), Some("server_vad"))
    );
    assert_eq!(answer["max_seconds"], 3600);
    let session_id = answer["session_id"].as_str().unwrap().to_owned();
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    let script = Script::new()
        .pause(200)
        .say("5 5 1")
        .pause(800)
        .say("0 #")
        .pause(800);
    caller.play(script.samples()).await.unwrap();
    while caller.transcripts().len() < 2 {
        caller.wait_for_completed(WAIT).await.unwrap();
    }
    assert_eq!(caller.transcripts(), script.expected_transcripts());

    // OpenAI saw a transcription session made with an ephemeral key; the key never left the proxy.
    let record = emulator.call(&caller.call_id).unwrap();
    assert_eq!(
        (record.auth, record.model.as_deref()),
        ("ephemeral", Some("gpt-4o-transcribe"))
    );
    // The organisation's audit has the call.
    let audit = send(
        project
            .rest(Some(&o.owner))
            .from("realtime_calls")
            .select("call_id,ended_at,user_id")
            .eq("id", &session_id),
    )
    .await;
    assert_eq!(
        audit.body,
        json!([{"call_id": caller.call_id, "ended_at": null, "user_id": o.recruiter.user_id}]),
        "{audit:?}"
    );

    // Only the recruiter or an admin may hang up.
    let client = hark_tests::http();
    let hangup = format!("{proxy}/sessions/{session_id}/hangup");
    let stranger = project.new_user("stranger").await;
    let refused = client
        .post(&hangup)
        .bearer_auth(&stranger.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let done = client
        .post(&hangup)
        .bearer_auth(&o.recruiter.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 204);
    caller.wait_for_hang_up(WAIT).await.unwrap();
    assert_eq!(
        emulator.call(&caller.call_id).unwrap().ended,
        Some(EndReason::Hangup)
    );
    let audit = send(
        project
            .rest(Some(&o.owner))
            .from("realtime_calls")
            .select("ended_at,seconds")
            .eq("id", &session_id),
    )
    .await;
    assert!(
        audit.body[0]["ended_at"].is_string()
            && audit.body[0]["seconds"].as_f64().is_some_and(|s| s > 1.0),
        "{audit:?}"
    );
}

/// Signs `claims` with HS256 and `secret`.
fn hs256(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(json: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_verified_strictly() {
    let project = Project::from_env();
    let o = org(&project).await;
    let emulator = emulator().await;
    let secret = std::env::var("HARK_TEST_JWT_SECRET").expect("the stack's JWT secret");
    let strict = proxy(&emulator, Some(&project), &[]).await;
    let with_hs256 = proxy(
        &emulator,
        Some(&project),
        &[("SUPABASE_JWT_SECRET", secret.clone())],
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let issuer = format!("{}/auth/v1", project.url);
    let claims = |changes: Value| {
        let mut claims = json!({"sub": o.recruiter.user_id, "aud": "authenticated", "role": "authenticated",
            "iss": issuer, "iat": now, "exp": now + 600});
        for (key, value) in changes.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    };
    let real = o.recruiter.access_token.clone();
    let parts: Vec<&str> = real.split('.').collect();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap(),
    )
    .unwrap();
    let mut tampered_claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    tampered_claims["sub"] = json!(o.owner.user_id);
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("not-a-published-key");
    let cases: Vec<(&str, &String, Option<String>, &str)> = vec![
        ("no token", &strict, None, "Authorization"),
        ("garbage", &strict, Some("not.a.jwt".into()), "malformed"),
        (
            "bad signature",
            &strict,
            Some(format!(
                "{}.{}.{}",
                parts[0],
                b64(&tampered_claims),
                parts[2]
            )),
            "signature",
        ),
        (
            "unknown kid",
            &strict,
            Some(format!("{}.{}.{}", b64(&unknown_kid), parts[1], parts[2])),
            "does not publish",
        ),
        (
            "alg none",
            &strict,
            Some(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                parts[1]
            )),
            "malformed",
        ),
        (
            "HS256 where not configured",
            &strict,
            Some(hs256(&secret, claims(json!({})))),
            "HS256 tokens are not accepted",
        ),
        (
            "HS256 signed with the public key",
            &with_hs256,
            Some(hs256("a public key is no secret", claims(json!({})))),
            "signature",
        ),
        (
            "expired",
            &with_hs256,
            Some(hs256(&secret, claims(json!({"exp": now - 60})))),
            "expired",
        ),
        (
            "not yet valid",
            &with_hs256,
            Some(hs256(&secret, claims(json!({"nbf": now + 600})))),
            "not valid yet",
        ),
        (
            "wrong audience",
            &with_hs256,
            Some(hs256(&secret, claims(json!({"aud": "anon"})))),
            "aud",
        ),
        (
            "wrong issuer",
            &with_hs256,
            Some(hs256(
                &secret,
                claims(json!({"iss": "https://other.supabase.co/auth/v1"})),
            )),
            "iss",
        ),
    ];
    let client = hark_tests::http();
    for (label, proxy, token, expected) in cases {
        let mut request = client
            .post(format!("{proxy}/sessions"))
            .json(&json!({"sdp": "v=0", "interview_id": o.interview, "source": "microphone"}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{label}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "unauthenticated", "{label}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{label}: {body}"
        );
    }
    // A valid HS256 token passes verification (and then fails on the SDP, which is checked next).
    let valid = client
        .post(format!("{with_hs256}/sessions"))
        .bearer_auth(hs256(&secret, claims(json!({}))))
        .json(&json!({"sdp": "v=0", "interview_id": o.interview, "source": "microphone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(valid.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_policy_refusals() {
    let project = Project::from_env();
    let o = org(&project).await;
    let emulator = emulator().await;
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let client = hark_tests::http();
    let post = |body: Value| {
        client
            .post(format!("{proxy}/sessions"))
            .bearer_auth(&o.recruiter.access_token)
            .json(&body)
            .send()
    };
    let cases = [
        (
            json!({"sdp": "v=0\r\nhello", "interview_id": o.interview, "source": "microphone"}),
            400,
            "invalid_sdp",
        ),
        (
            json!({"sdp": "v=0", "interview_id": o.interview, "source": "speaker"}),
            400,
            "invalid_request",
        ),
        (
            json!({"sdp": "v=0", "interview_id": "nope", "source": "microphone"}),
            400,
            "invalid_request",
        ),
        (
            json!({"sdp": "v=0", "interview_id": o.interview, "source": "microphone", "voice": "alloy"}),
            400,
            "invalid_request",
        ),
        (
            json!({"sdp": "x".repeat(200 * 1024), "interview_id": o.interview, "source": "microphone"}),
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, expected) in cases {
        let response = post(body).await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), expected, "{body}");
    }
    // Policy: a viewer may not record; nor may anyone outside the organisation.
    let (status, body, _) = refusal(
        dial_as(&proxy, Some(&o.viewer), o.interview)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let outsider = project.new_user("outsider").await;
    let (status, body, _) = refusal(
        dial_as(&proxy, Some(&outsider), o.interview)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    // The concurrency cap, and the monthly quota.
    let cap = send(
        project
            .rest(Some(&o.owner))
            .from("org_settings")
            .eq("org_id", o.org.to_string())
            .update(json!({"concurrent_session_cap": 1}).to_string()),
    )
    .await;
    assert_eq!(cap.status, 200, "{cap:?}");
    let first = dial_as(&proxy, Some(&o.recruiter), o.interview)
        .await
        .unwrap();
    let (status, body, _) = refusal(
        dial_as(&proxy, Some(&o.owner), o.interview)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code(&body)), (403, "concurrency_limit"), "{body}");
    first.close().await;
    let quota = send(
        project
            .rest(Some(&o.owner))
            .from("org_settings")
            .eq("org_id", o.org.to_string())
            .update(json!({"concurrent_session_cap": 5, "monthly_minute_quota": 0}).to_string()),
    )
    .await;
    assert_eq!(quota.status, 200, "{quota:?}");
    let (status, body, _) = refusal(
        dial_as(&proxy, Some(&o.recruiter), o.interview)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code(&body)), (403, "quota_exceeded"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_mapped_and_release_the_slot() {
    let project = Project::from_env();
    let o = org(&project).await;
    let emulator = emulator().await;
    let proxy = proxy(
        &emulator,
        Some(&project),
        &[("UPSTREAM_TIMEOUT_SECS", "1".to_owned())],
    )
    .await;
    let cap = send(
        project
            .rest(Some(&o.owner))
            .from("org_settings")
            .eq("org_id", o.org.to_string())
            .update(json!({"concurrent_session_cap": 1}).to_string()),
    )
    .await;
    assert_eq!(cap.status, 200);
    let dial = || dial_as(&proxy, Some(&o.recruiter), o.interview);
    for (faults, status, expected, retry_after) in [
        (
            Faults {
                reject_status: Some(401),
                ..Faults::default()
            },
            502,
            "upstream_auth",
            None,
        ),
        (
            Faults {
                reject_status: Some(429),
                retry_after_secs: Some(9),
                ..Faults::default()
            },
            503,
            "upstream_busy",
            Some("9"),
        ),
        (
            Faults {
                reject_status: Some(500),
                ..Faults::default()
            },
            502,
            "upstream_failed",
            None,
        ),
        (
            Faults {
                answer_delay_ms: 2500,
                ..Faults::default()
            },
            504,
            "upstream_timeout",
            None,
        ),
    ] {
        emulator.set_faults(faults);
        let (got_status, body, got_retry) = refusal(dial().await.unwrap_err());
        assert_eq!((got_status, code(&body)), (status, expected), "{body}");
        assert_eq!(got_retry.as_deref(), retry_after);
        assert!(
            !body.to_string().contains("sk-test")
                && !body.to_string().contains("Incorrect API key"),
            "no upstream body or key: {body}"
        );
    }
    // Every failure gave its slot back: with a cap of 1, a call still goes through.
    emulator.set_faults(Faults::default());
    let caller = dial().await.unwrap();
    caller.close().await;
}

/// Collects what tracing writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every proxy log line of a whole session is captured: none may hold a key, token or ICE
/// password. The capture is the test binary's global subscriber (the only test that sets one):
/// a thread-local one missed lines now and then while other tests ran the proxy on other threads
/// (tracing's per-callsite interest is shared by all threads). Other tests' proxy lines land in
/// it too; they hold none of this test's secrets, which is all it looks for.
#[tokio::test(flavor = "current_thread")]
async fn a_full_session_logs_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("hark_proxy=trace,warn")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("no other test sets a global subscriber");

    let project = Project::from_env();
    let o = org(&project).await;
    let api_key = format!("sk-proj-{}", Uuid::new_v4().simple());
    let emulator = Emulator::start(hark_tests::emulator::EmulatorConfig {
        api_key: api_key.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let mut caller = dial_as(&proxy, Some(&o.recruiter), o.interview)
        .await
        .unwrap();
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    let script = Script::new().pause(100).say("4").pause(700);
    caller.play(script.samples()).await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();
    let answer = caller.proxy_answer.clone().unwrap();
    let session_id = answer["session_id"].as_str().unwrap().to_owned();
    // A refused request too: its error path logs.
    emulator.set_faults(Faults {
        reject_status: Some(401),
        ..Faults::default()
    });
    let _ = dial_as(&proxy, Some(&o.recruiter), o.interview).await;
    let status = hark_tests::http()
        .post(format!("{proxy}/sessions/{session_id}/hangup"))
        .bearer_auth(&o.recruiter.access_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("call created") && logs.contains(&caller.call_id),
        "the capture works: {logs}"
    );
    assert!(
        logs.contains("OpenAI refused"),
        "the refusal was logged: {logs}"
    );
    let ice_passwords: Vec<&str> = answer["sdp"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("a=ice-pwd:"))
        .collect();
    assert!(!ice_passwords.is_empty());
    let mut secrets = vec![
        api_key.as_str(),
        o.recruiter.access_token.as_str(),
        o.recruiter.refresh_token.as_str(),
        &project.anon_key,
    ];
    secrets.extend(ice_passwords);
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {}…",
            &secret[..8.min(secret.len())]
        );
    }
    assert!(!logs.contains("ek_"), "an ephemeral key reached the logs");
    assert!(
        !logs.contains("eyJ"),
        "something token-shaped reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_transcription_is_authorised_and_metered() {
    let project = Project::from_env();
    let o = org(&project).await;
    let emulator = emulator().await;
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let script = Script::new()
        .pause(300)
        .say("8 6")
        .pause(900)
        .say("1")
        .pause(600);
    let form = |file: Vec<u8>, interview: Option<String>| {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name("gap.wav"),
        );
        if let Some(interview) = interview {
            form = form.text("interview_id", interview);
        }
        form
    };
    let wav = hark_tests::audio_files::wav_bytes(script.samples(), 48_000, 1);
    let client = hark_tests::http();
    let url = format!("{proxy}/transcriptions");
    let anonymous = client
        .post(&url)
        .multipart(form(wav.clone(), Some(o.interview.to_string())))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Refused before the upload was read: the client is told not to reuse the connection.
    assert_eq!(anonymous.headers()["connection"], "close");
    let viewer = client
        .post(&url)
        .bearer_auth(&o.viewer.access_token)
        .multipart(form(wav.clone(), Some(o.interview.to_string())))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), 403, "{}", viewer.text().await.unwrap());
    let no_interview = client
        .post(&url)
        .bearer_auth(&o.recruiter.access_token)
        .multipart(form(wav.clone(), None))
        .send()
        .await
        .unwrap();
    assert_eq!(no_interview.status(), 400);
    // The proxy answers 413 as soon as the limit is crossed and closes the connection, so the
    // client may see its upload cut (broken pipe) instead of the answer; try a few times.
    let mut huge_status = None;
    for _ in 0..5 {
        let sent = client
            .post(&url)
            .bearer_auth(&o.recruiter.access_token)
            .multipart(form(
                vec![0; 26 * 1024 * 1024],
                Some(o.interview.to_string()),
            ))
            .send()
            .await;
        if let Ok(response) = sent {
            huge_status = Some(response.status().as_u16());
            break;
        }
    }
    assert_eq!(huge_status, Some(413));

    let done = client
        .post(&url)
        .bearer_auth(&o.recruiter.access_token)
        .multipart(form(wav, Some(o.interview.to_string())))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let body: Value = done.json().await.unwrap();
    assert_eq!(body["text"], "8 6 1");
    // Metered in the organisation's audit, already ended.
    let audit = send(
        project
            .rest(Some(&o.owner))
            .from("realtime_calls")
            .select("seconds,ended_at")
            .eq("user_id", o.recruiter.user_id.to_string()),
    )
    .await;
    let rows = audit.body.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit:?}");
    assert!(
        rows[0]["ended_at"].is_string() && rows[0]["seconds"].as_f64().is_some_and(|s| s > 2.0),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_user_and_per_organisation() {
    let emulator = emulator().await;
    // Per user (here the --dev user): every request counts, valid or not.
    let dev = proxy(
        &emulator,
        None,
        &[("RATE_LIMIT_PER_USER_PER_MINUTE", "2".to_owned())],
    )
    .await;
    let client = hark_tests::http();
    let body = json!({"sdp": "v=0", "interview_id": Uuid::new_v4(), "source": "microphone"});
    for _ in 0..2 {
        assert_eq!(
            client
                .post(format!("{dev}/sessions"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
    }
    let limited = client
        .post(format!("{dev}/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        code(&limited.json::<Value>().await.unwrap()),
        "rate_limited"
    );

    // Per organisation: the second call of the minute is refused and gives its slot back.
    let project = Project::from_env();
    let o = org(&project).await;
    let proxy = proxy(
        &emulator,
        Some(&project),
        &[("RATE_LIMIT_PER_ORG_PER_MINUTE", "1".to_owned())],
    )
    .await;
    let first = dial_as(&proxy, Some(&o.recruiter), o.interview)
        .await
        .unwrap();
    let (status, body, _) = refusal(
        dial_as(&proxy, Some(&o.owner), o.interview)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code(&body)), (429, "rate_limited"), "{body}");
    let open = send(
        project
            .rest(Some(&o.owner))
            .from("realtime_calls")
            .select("id")
            .is("ended_at", "null"),
    )
    .await;
    assert_eq!(
        open.body.as_array().map(Vec::len),
        Some(1),
        "only the admitted call is open: {open:?}"
    );
    first.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_step_multipart_form_is_a_configuration_away() {
    let emulator = emulator().await;
    let proxy = proxy(
        &emulator,
        None,
        &[
            ("OPENAI_CALL_FORM", "multipart".to_owned()),
            ("TRANSCRIBE_MODEL", "gpt-live-transcribe".to_owned()),
        ],
    )
    .await;
    let mut caller = Caller::dial(
        &proxy,
        CallForm::Proxy {
            token: None,
            interview_id: Uuid::new_v4().to_string(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        caller.proxy_answer.as_ref().unwrap()["turn_detection"],
        "manual"
    );
    let record = emulator.call(&caller.call_id).unwrap();
    assert_eq!(
        (record.auth, record.turn_detection, record.model.as_deref()),
        ("standard", "manual", Some("gpt-live-transcribe"))
    );
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    caller
        .play(Script::new().say("9").pause(200).samples())
        .await
        .unwrap();
    caller.commit().await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();
    assert_eq!(caller.transcripts(), ["9"]);
}

/// The shortest maximum an organisation can set is one minute, so this test waits that long
/// (in parallel with the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_hung_up_at_the_maximum_length() {
    let emulator = emulator().await;
    let proxy = proxy(&emulator, None, &[("MAX_SESSION_MINUTES", "1".to_owned())]).await;
    let mut caller = Caller::dial(
        &proxy,
        CallForm::Proxy {
            token: None,
            interview_id: Uuid::new_v4().to_string(),
        },
    )
    .await
    .unwrap();
    assert_eq!(caller.proxy_answer.as_ref().unwrap()["max_seconds"], 60);
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    assert_eq!(emulator.call(&caller.call_id).unwrap().ended, None);
    caller
        .wait_for_hang_up(std::time::Duration::from_secs(75))
        .await
        .unwrap();
    assert_eq!(
        emulator.call(&caller.call_id).unwrap().ended,
        Some(EndReason::Hangup),
        "the proxy hung up at OpenAI"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let emulator = emulator().await;
    emulator.set_faults(Faults {
        answer_delay_ms: 1500,
        ..Faults::default()
    });
    let vars: HashMap<&str, String> = HashMap::from([
        ("OPENAI_API_KEY", emulator.api_key().to_owned()),
        ("OPENAI_BASE_URL", emulator.base_url()),
    ]);
    let config = hark_proxy::Config::from_vars(|name| vars.get(name).cloned(), true).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hark_proxy::serve(
        listener,
        hark_proxy::state_from_config(&config).unwrap(),
        async {
            let _ = stopped.await;
        },
    ));
    let in_flight = tokio::spawn({
        let base = base.clone();
        async move {
            Caller::dial(
                &base,
                CallForm::Proxy {
                    token: None,
                    interview_id: Uuid::new_v4().to_string(),
                },
            )
            .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    stop.send(()).unwrap();
    let caller = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    server.await.unwrap().unwrap();
    assert!(!caller.call_id.is_empty());
    let after = hark_tests::http()
        .get(base.replace("/v1", "/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "no new connections after shutdown");
}
