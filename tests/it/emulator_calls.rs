//! The emulator driven by a webrtc-rs offerer with Opus DTMF audio, in both turn modes.

use std::time::{Duration, Instant};

use hark_tests::caller::{CallForm, Caller, Refusal};
use hark_tests::dtmf::Script;
use hark_tests::emulator::{EndReason, Faults};
use hark_wire::realtime::{ClientEvent, ServerEvent, SessionConfig};
use hark_wire::rest::{ClientSecretRequest, ClientSecretResponse, ExpiresAfter};

use crate::support::{WAIT, emulator, transcription_session};

/// Dials with the standard key and a multipart session.
async fn dial(base_url: &str, api_key: &str, session: SessionConfig) -> Caller {
    Caller::dial(
        base_url,
        CallForm::Multipart {
            api_key: api_key.to_owned(),
            session: Some(Box::new(session)),
        },
    )
    .await
    .expect("call is answered")
}

/// Dials `emulator` as [`dial`] does and waits for `session.created`.
async fn dial_ready(emulator: &hark_tests::emulator::Emulator, session: SessionConfig) -> Caller {
    let mut caller = dial(&emulator.base_url(), emulator.api_key(), session).await;
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    caller
}

/// Server events of `caller` as their type names, without `session.*`.
fn event_types(caller: &Caller) -> Vec<&str> {
    caller
        .received
        .iter()
        .map(ServerEvent::event_type)
        .filter(|t| !t.starts_with("session."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_vad_transcribes_dtmf_exactly_with_documented_events() {
    let emulator = emulator().await;
    // Mint an ephemeral key for a transcription session, then call with it (the proxy's flow).
    let secret: ClientSecretResponse = hark_tests::http()
        .post(format!("{}/realtime/client_secrets", emulator.base_url()))
        .bearer_auth(emulator.api_key())
        .json(&ClientSecretRequest {
            expires_after: Some(ExpiresAfter::seconds(60)),
            session: Some(transcription_session(
                "gpt-4o-transcribe",
                Some(r#"{"type":"server_vad","threshold":0.5,"prefix_padding_ms":200,"silence_duration_ms":400}"#),
            )),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(secret.value.starts_with("ek_"));

    let started = Instant::now();
    let mut caller = Caller::dial(
        &emulator.base_url(),
        CallForm::Ephemeral { key: secret.value },
    )
    .await
    .unwrap();
    assert!(caller.call_id.starts_with("rtc_"), "{}", caller.call_id);
    let created = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap();
    let ServerEvent::SessionCreated(created) = created else {
        unreachable!()
    };
    assert!(matches!(created.session, SessionConfig::Transcription(_)));

    let script = Script::new()
        .pause(300)
        .say("4 1 7")
        .pause(700)
        .say("9 0 # 2")
        .pause(700);
    caller.play(script.samples()).await.unwrap();
    let completed_count = |caller: &Caller| caller.transcripts().len();
    while completed_count(&caller) < 2 {
        caller.wait_for_completed(WAIT).await.unwrap();
    }
    let first_completed_after = started.elapsed();
    assert_eq!(caller.transcripts(), script.expected_transcripts());

    assert_eq!(
        event_types(&caller),
        [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
        ]
    );
    // Timings follow the session's VAD parameters: speech at 300 ms minus 200 ms padding.
    let starts: Vec<u64> = caller
        .received
        .iter()
        .filter_map(|e| match e {
            ServerEvent::SpeechStarted(s) => Some(s.audio_start_ms),
            _ => None,
        })
        .collect();
    assert!(
        (80..=120).contains(&starts[0]),
        "first utterance starts at {starts:?}"
    );
    let stops: Vec<u64> = caller
        .received
        .iter()
        .filter_map(|e| match e {
            ServerEvent::SpeechStopped(s) => Some(s.audio_end_ms),
            _ => None,
        })
        .collect();
    // "4 1 7" is 3×120 + 2×80 = 520 ms of tones from 300 ms, then 400 ms of silence.
    assert!(
        (1180..=1260).contains(&stops[0]),
        "first utterance stops at {stops:?}"
    );
    // Items chain by previous_item_id; deltas add up to the completed text.
    let committed: Vec<_> = caller
        .received
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Committed(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(committed[0].previous_item_id, None);
    assert_eq!(
        committed[1].previous_item_id.as_deref(),
        Some(committed[0].item_id.as_str())
    );
    let deltas: String = caller
        .received
        .iter()
        .filter_map(|e| match e {
            ServerEvent::TranscriptionDelta(d) if d.item_id == committed[1].item_id => {
                Some(d.delta.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(deltas, "9 0 # 2");
    println!(
        "offer to second .completed: {first_completed_after:?} (audio itself lasts {} ms)",
        script.samples().len() / 48
    );

    let record = emulator.call(&caller.call_id).unwrap();
    assert_eq!(
        (record.auth, record.turn_detection),
        ("ephemeral", "server_vad")
    );
    assert_eq!(record.items.len(), 2);
    caller.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_turns_transcribe_only_what_the_client_commits() {
    let emulator = emulator().await;
    let mut caller = dial(
        &emulator.base_url(),
        emulator.api_key(),
        transcription_session("gpt-live-transcribe", None),
    )
    .await;
    let ServerEvent::SessionCreated(created) = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionCreated(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        created.session.input_audio().unwrap().turn_detection,
        Some(None),
        "no VAD for this model"
    );

    // An empty commit is refused with the documented error, echoing our event id.
    caller
        .send(&ClientEvent::Commit {
            event_id: Some("commit-0".into()),
        })
        .await
        .unwrap();
    let ServerEvent::Error(error) = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::Error(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        error.error.code.as_deref(),
        Some("input_audio_buffer_commit_empty")
    );
    assert_eq!(error.error.event_id.as_deref(), Some("commit-0"));

    let first = Script::new().pause(200).say("3 3 8").pause(300);
    caller.play(first.samples()).await.unwrap();
    caller.commit().await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();
    // Audio that is cleared is never transcribed.
    caller
        .play(Script::new().say("1 1").pause(200).samples())
        .await
        .unwrap();
    caller
        .send(&ClientEvent::Clear { event_id: None })
        .await
        .unwrap();
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::Cleared(_)))
        .await
        .unwrap();
    let second = Script::new().say("5 *").pause(200);
    caller.play(second.samples()).await.unwrap();
    caller.commit().await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();

    assert_eq!(caller.transcripts(), ["3 3 8", "5 *"]);
    assert!(
        !event_types(&caller).iter().any(|t| t.contains("speech_")),
        "no VAD events in manual mode"
    );
    let record = emulator.call(&caller.call_id).unwrap();
    assert_eq!(record.turn_detection, "manual");
    assert_eq!(
        record.client_events,
        [
            "input_audio_buffer.commit",
            "input_audio_buffer.commit",
            "input_audio_buffer.clear",
            "input_audio_buffer.commit"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_update_switches_turn_detection_mid_call() {
    let emulator = emulator().await;
    let mut caller = dial_ready(&emulator, transcription_session("gpt-4o-transcribe", None)).await;
    let update: SessionConfig = serde_json::from_str(
        r#"{"type":"transcription","audio":{"input":{"turn_detection":null,"transcription":{"prompt":"Hark"}}}}"#,
    )
    .unwrap();
    caller
        .send(&ClientEvent::session_update(None, update))
        .await
        .unwrap();
    let ServerEvent::SessionUpdated(updated) = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::SessionUpdated(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    let input = updated.session.input_audio().unwrap();
    assert_eq!(input.turn_detection, Some(None));
    let transcription = input.transcription.as_ref().unwrap();
    assert_eq!(
        (
            transcription.language.as_deref(),
            transcription.prompt.as_deref()
        ),
        (Some("en"), Some("Hark"))
    );

    // With VAD off, speech produces nothing until we commit.
    caller
        .play(Script::new().say("6 6").pause(800).samples())
        .await
        .unwrap();
    assert!(
        caller
            .next_event(Duration::from_millis(300))
            .await
            .is_none()
    );
    caller.commit().await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();
    assert_eq!(caller.transcripts(), ["6 6"]);

    // An invalid update is an error event and leaves the session as it was.
    let bad: SessionConfig = serde_json::from_str(
        r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-9"}}}}"#,
    )
    .unwrap();
    caller
        .send(&ClientEvent::session_update(Some("u2".into()), bad))
        .await
        .unwrap();
    let ServerEvent::Error(error) = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::Error(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        error.error.param.as_deref(),
        Some("session.audio.input.transcription.model")
    );
    assert_eq!(error.error.event_id.as_deref(), Some("u2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_events_get_error_events_and_the_session_stays_open() {
    let emulator = emulator().await;
    let mut caller = dial_ready(
        &emulator,
        transcription_session("gpt-live-transcribe", None),
    )
    .await;
    caller.send_text("{not json").await.unwrap();
    caller.send_text(r#"{"event_id":"x"}"#).await.unwrap();
    caller
        .send_text(r#"{"type":"response.create","event_id":"r1"}"#)
        .await
        .unwrap();
    let mut codes = Vec::new();
    while codes.len() < 3 {
        if let ServerEvent::Error(error) = caller
            .wait_for(WAIT, |e| matches!(e, ServerEvent::Error(_)))
            .await
            .unwrap()
        {
            codes.push(error.error.code.unwrap_or_default());
        }
    }
    assert_eq!(codes, ["invalid_json", "invalid_event", "invalid_value"]);
    // Still transcribing.
    caller
        .play(Script::new().say("8").pause(200).samples())
        .await
        .unwrap();
    caller.commit().await.unwrap();
    caller.wait_for_completed(WAIT).await.unwrap();
    assert_eq!(caller.transcripts(), ["8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcription_faults_fail_or_withhold_items_and_odd_events_arrive() {
    let emulator = emulator().await;
    emulator.push_next_call_faults(Faults {
        malformed_event: true,
        unknown_event: true,
        fail_items: vec![0],
        withhold_completed: vec![1],
        ..Faults::default()
    });
    let mut caller = dial(
        &emulator.base_url(),
        emulator.api_key(),
        transcription_session("gpt-live-transcribe", None),
    )
    .await;
    caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::Unknown(_)))
        .await
        .unwrap();
    assert_eq!(
        caller.undecodable.len(),
        1,
        "the truncated event arrived: {:?}",
        caller.undecodable
    );
    for keys in ["1", "2", "3"] {
        caller
            .play(Script::new().say(keys).pause(200).samples())
            .await
            .unwrap();
        caller.commit().await.unwrap();
    }
    let ServerEvent::TranscriptionFailed(failed) = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::TranscriptionFailed(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(failed.error.code.as_deref(), Some("audio_unintelligible"));
    caller.wait_for_completed(WAIT).await.unwrap();
    // Item 1 got its delta but never a completed; item 2 completed.
    assert_eq!(caller.transcripts(), ["3"]);
    let deltas: Vec<&str> = caller
        .received
        .iter()
        .filter_map(|e| match e {
            ServerEvent::TranscriptionDelta(d) => Some(d.delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["2", "3"]);
    let outcomes: Vec<_> = emulator
        .call(&caller.call_id)
        .unwrap()
        .items
        .iter()
        .map(|i| i.outcome)
        .collect();
    assert_eq!(outcomes, ["failed", "withheld", "completed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_ends_the_call_at_both_ends() {
    let emulator = emulator().await;
    let mut caller = dial_ready(&emulator, transcription_session("gpt-4o-transcribe", None)).await;
    let status = hark_tests::http()
        .post(format!(
            "{}/realtime/calls/{}/hangup",
            emulator.base_url(),
            caller.call_id
        ))
        .bearer_auth(emulator.api_key())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    caller.wait_for_hang_up(WAIT).await.unwrap();
    assert_eq!(
        emulator.call(&caller.call_id).unwrap().ended,
        Some(EndReason::Hangup)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_end_at_the_maximum_duration_with_an_error_event() {
    let emulator = emulator().await;
    emulator.push_next_call_faults(Faults {
        max_call_ms: Some(1500),
        ..Faults::default()
    });
    let mut caller = dial(
        &emulator.base_url(),
        emulator.api_key(),
        transcription_session("gpt-4o-transcribe", None),
    )
    .await;
    let ServerEvent::Error(error) = caller
        .wait_for(WAIT, |e| matches!(e, ServerEvent::Error(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(error.error.code.as_deref(), Some("session_expired"));
    caller.wait_for_hang_up(WAIT).await.unwrap();
    assert_eq!(
        emulator.call(&caller.call_id).unwrap().ended,
        Some(EndReason::Expired)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_calls_close_mid_call_and_mid_utterance() {
    let emulator = emulator().await;
    emulator.push_next_call_faults(Faults {
        drop_after_ms: Some(1200),
        ..Faults::default()
    });
    let mut caller = dial_ready(&emulator, transcription_session("gpt-4o-transcribe", None)).await;
    caller.wait_for_hang_up(WAIT).await.unwrap();
    assert_eq!(
        emulator.call(&caller.call_id).unwrap().ended,
        Some(EndReason::Dropped)
    );

    emulator.push_next_call_faults(Faults {
        drop_mid_utterance: true,
        ..Faults::default()
    });
    let mut caller = dial_ready(&emulator, transcription_session("gpt-4o-transcribe", None)).await;
    let script = Script::new().say("1 2 3 4 5 6").pause(500);
    // Playing fails part-way once the emulator has closed the connection; that is the point.
    let _ = caller.play(script.samples()).await;
    caller.wait_for_hang_up(WAIT).await.unwrap();
    assert!(
        caller
            .received
            .iter()
            .any(|e| matches!(e, ServerEvent::SpeechStarted(_)))
    );
    assert!(
        caller.transcripts().is_empty(),
        "the utterance was cut, never completed"
    );
    assert_eq!(
        emulator.call(&caller.call_id).unwrap().ended,
        Some(EndReason::Dropped)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_network_disconnects_the_caller_and_its_return_reconnects_it() {
    use webrtc::peer_connection::RTCPeerConnectionState::{Connected, Disconnected};
    let emulator = emulator().await;
    emulator.push_next_call_faults(Faults {
        network_down_at_utterance: Some(1),
        network_down_for_ms: Some(9_000),
        ..Faults::default()
    });
    let mut caller = dial_ready(&emulator, transcription_session("gpt-4o-transcribe", None)).await;
    // The first utterance goes through; the network is cut as the second starts.
    caller
        .play(
            Script::new()
                .say("2 5")
                .pause(900)
                .say("7")
                .pause(300)
                .samples(),
        )
        .await
        .unwrap();
    assert_eq!(
        caller.wait_for_completed(WAIT).await.unwrap().transcript,
        "2 5"
    );
    let cut_at = Instant::now();
    // Nothing gets through either way, so ICE consent fails: `disconnected` after about 5 s
    // (webrtc-rs's default), not a hang-up.
    let state = caller
        .wait_for_connection(Duration::from_secs(20), &[Disconnected])
        .await
        .unwrap();
    assert_eq!(state, Disconnected);
    assert!(
        cut_at.elapsed() >= Duration::from_secs(3),
        "{:?}",
        cut_at.elapsed()
    );
    let call = emulator.call(&caller.call_id).unwrap();
    assert!(call.network_cut_at_ms.is_some());
    assert_eq!(call.ended, None, "a cut network is not a hang-up");
    // Back after 9 s: the same connection comes back up.
    caller
        .wait_for_connection(Duration::from_secs(20), &[Connected])
        .await
        .unwrap();
    assert!(
        cut_at.elapsed() >= Duration::from_secs(7),
        "{:?}",
        cut_at.elapsed()
    );
    // And carries audio again: the next words are transcribed on it (after whatever of the
    // utterance under the cut arrived before it).
    caller
        .play(Script::new().say("8 4").pause(900).samples())
        .await
        .unwrap();
    let after = caller.wait_for_completed(WAIT).await.unwrap().transcript;
    assert!(after.ends_with("8 4"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_delayed_calls() {
    let emulator = emulator().await;
    for (status, retry_after) in [(401, None), (429, Some("7")), (500, None), (503, Some("7"))] {
        emulator.push_next_call_faults(Faults {
            reject_status: Some(status),
            retry_after_secs: Some(7),
            ..Faults::default()
        });
        let err = Caller::dial(
            &emulator.base_url(),
            CallForm::Multipart {
                api_key: emulator.api_key().to_owned(),
                session: None,
            },
        )
        .await
        .unwrap_err();
        let refusal = err.downcast_ref::<Refusal>().expect("a refusal");
        assert_eq!(refusal.status, status);
        assert_eq!(
            refusal.retry_after.as_deref(),
            retry_after,
            "status {status}"
        );
        let body: serde_json::Value = serde_json::from_str(&refusal.body).unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    emulator.push_next_call_faults(Faults {
        answer_delay_ms: 700,
        ..Faults::default()
    });
    let started = Instant::now();
    let caller = dial(
        &emulator.base_url(),
        emulator.api_key(),
        transcription_session("gpt-4o-transcribe", None),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(700));
    caller.close().await;
}
