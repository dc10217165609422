//! The product's realtime client (`hark-realtime`) end to end: Opus packets from the audio
//! crate's encoder → webrtc-rs → the proxy (`--dev`) → the emulator as OpenAI, events through the
//! transcript assembler; hang-up through the proxy; refusals and an unreachable proxy.

use std::time::{Duration, Instant};

use hark_audio::encoder::Encoder;
use hark_realtime::{Assembler, Call, CallEvent, Dial, RealtimeError, Update};
use hark_tests::dtmf::Script;
use hark_tests::emulator::{EndReason, Faults};
use hark_wire::realtime::TurnMode;
use uuid::Uuid;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::support::{WAIT, dev_proxy, emulator, utterance_spans};

fn dial(proxy_url: &str) -> Dial {
    Dial {
        proxy_url: proxy_url.to_owned(),
        token: None,
        interview_id: Uuid::new_v4(),
        source: "microphone".into(),
        language: Some("en".into()),
        prompt: None,
        bind: "127.0.0.1:0".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_transcribes_a_script_in_order_on_the_recording_timeline_and_hangs_up() {
    let emulator = emulator().await;
    let proxy = dev_proxy(&emulator).await;
    let script = Script::new()
        .pause(300)
        .say("1 2 3")
        .pause(900)
        .say("4 5 6 7")
        .pause(900)
        .say("9 0")
        .pause(1_200);
    let pressed = Instant::now();
    let (call, mut events) = Call::connect(dial(&proxy)).await.expect("call set up");
    assert_eq!(call.session.turn_detection, TurnMode::ServerVad);
    let answer_ms = call.timings.answer_ms;

    // Audio sent before the connection is up is lost: the call's audio starts with the first
    // packet after `connected`, here 10 s into the recording.
    let mut early = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Some(CallEvent::Connection(RTCPeerConnectionState::Connected))) => break,
            Ok(Some(other)) => early.push(other),
            other => panic!("not connected: {other:?} after {early:?}"),
        }
    }
    let connected_ms = pressed.elapsed().as_secs_f64() * 1000.0;
    let offset_ms = 10_000;
    let collector = tokio::spawn(async move {
        let mut assembler = Assembler::new(offset_ms);
        let mut finals = Vec::new();
        let mut first_event_ms = None;
        let (early_tx, mut early_rx) = tokio::sync::mpsc::unbounded_channel();
        for event in early {
            let _ = early_tx.send(event);
        }
        drop(early_tx);
        loop {
            let event = match early_rx.try_recv() {
                Ok(event) => event,
                Err(_) => match tokio::time::timeout(WAIT, events.recv()).await {
                    Ok(Some(event)) => event,
                    _ => break,
                },
            };
            if let CallEvent::Server(event) = event {
                first_event_ms.get_or_insert(pressed.elapsed().as_secs_f64() * 1000.0);
                for update in assembler.handle(&event) {
                    if let Update::Final { .. } = update {
                        finals.push(update);
                    }
                }
                if finals.len() == 3 {
                    break;
                }
            }
        }
        (finals, assembler, first_event_ms)
    });

    let mut encoder = Encoder::new(24_000, 0).unwrap();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for chunk in script.samples().chunks(960) {
        let mut frame = [0.0f32; 960];
        frame[..chunk.len()].copy_from_slice(chunk);
        let packet = encoder.encode(&frame).unwrap();
        ticker.tick().await;
        call.send_audio(&packet.data).await.unwrap();
    }
    let (finals, assembler, first_event_ms) = collector.await.unwrap();
    let texts: Vec<&str> = finals
        .iter()
        .map(|u| match u {
            Update::Final { text, .. } => text.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(texts, script.expected_transcripts());
    // Each segment covers its utterance's tones on the recording's timeline (the server adds
    // up to 300 ms of prefix padding before and its silence window after).
    for (update, (tones_start, tones_end)) in finals.iter().zip(utterance_spans(script.samples())) {
        let Update::Final {
            start_ms, end_ms, ..
        } = update
        else {
            unreachable!()
        };
        let (tones_start, tones_end) = (offset_ms + tones_start, offset_ms + tones_end);
        assert!(
            *start_ms <= tones_start + 40 && *start_ms >= tones_start - 400,
            "starts near {tones_start}: {update:?}"
        );
        assert!(
            *end_ms >= tones_end - 40 && *end_ms <= tones_end + 1_000,
            "ends near {tones_end}: {update:?}"
        );
    }
    assert_eq!(assembler.unfinished(), 0);
    eprintln!(
        "realtime client: answer after {answer_ms:.1} ms, connected (first audio sent) after \
         {connected_ms:.1} ms, first server event after {:.1} ms",
        first_event_ms.unwrap_or_default()
    );

    call.hang_up().await.expect("hang up through the proxy");
    let deadline = Instant::now() + WAIT;
    loop {
        let calls = emulator.calls();
        if calls.iter().any(|c| c.ended == Some(EndReason::Hangup)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the emulator never saw the hang-up: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_an_unreachable_proxy_are_clear_errors() {
    let emulator = emulator().await;
    let proxy = dev_proxy(&emulator).await;

    emulator.set_faults(Faults {
        reject_status: Some(429),
        retry_after_secs: Some(7),
        ..Faults::default()
    });
    let err = Call::connect(dial(&proxy)).await.unwrap_err();
    match &err {
        RealtimeError::Refused {
            status,
            code,
            retry_after,
            ..
        } => {
            assert_eq!(*status, 503);
            assert_eq!(code.as_deref(), Some("upstream_busy"));
            assert_eq!(*retry_after, Some(7));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert!(err.to_string().contains("refused"), "{err}");

    emulator.set_faults(Faults {
        reject_status: Some(401),
        ..Faults::default()
    });
    let err = Call::connect(dial(&proxy)).await.unwrap_err();
    assert!(
        matches!(err, RealtimeError::Refused { status: 502, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());

    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let err = Call::connect(dial(&url)).await.unwrap_err();
    assert!(
        matches!(err, RealtimeError::ProxyUnreachable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("HARK_PROXY_URL"), "{err}");
}
