//! The recorder end to end: a DTMF script played into a PulseAudio virtual microphone → cpal →
//! the audio engine → the realtime client → the proxy (`--dev`) → the emulator, with every final
//! segment in SQLite; exports checked; and a proxy that cannot be reached, which must not stop
//! the recording. Needs the virtual microphone from `cargo xtask test`.

use std::path::Path;
use std::time::Duration;

use hark_audio::DeviceChoice;
use hark_recorder::config::Layer;
use hark_recorder::export::{Format, render};
use hark_recorder::{Config, Recorder, RecorderEvent, StartOptions, Token};
use hark_tests::dtmf::Script;
use tokio::sync::broadcast;

use crate::support::{
    dev_proxy, dev_proxy_with, emulator, hark_binary, stored_lines, stored_texts, utterance_spans,
    write_wav,
};

use crate::audio_support::{VirtualMic, scratch};

fn recorder(name: &str, proxy_url: Option<String>) -> Recorder {
    let flags = Layer {
        proxy_url,
        data_dir: Some(scratch(name).join("data")),
        ..Layer::default()
    };
    let config =
        Config::load_with(Some(&scratch(name).join("none.toml")), flags, |_| None).unwrap();
    Recorder::open(config).unwrap()
}

fn options(mic: &VirtualMic, interview: &str) -> StartOptions {
    StartOptions {
        interview: interview.into(),
        microphone: DeviceChoice::Id(mic.id()),
        system_audio: None,
        language: Some("en".into()),
        prompt: None,
        token: Token::None,
        consent: None,
    }
}

/// Takes what `pick` keeps from the recorder's events until it has `n`; panics naming `what`
/// and what it had after 20 s.
async fn collect<T: std::fmt::Debug>(
    events: &mut broadcast::Receiver<RecorderEvent>,
    n: usize,
    what: &str,
    mut pick: impl FnMut(RecorderEvent) -> Option<T>,
) -> Vec<T> {
    let mut taken = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while taken.len() < n {
            if let Ok(event) = events.recv().await {
                taken.extend(pick(event));
            }
        }
    })
    .await;
    assert_eq!(taken.len(), n, "{what}: got only {taken:?}");
    taken
}

/// Waits until the recording's first packet went out on a live call.
async fn until_live(events: &mut broadcast::Receiver<RecorderEvent>) {
    collect(events, 1, "the call live", |e| match e {
        RecorderEvent::Live { .. } => Some(()),
        _ => None,
    })
    .await;
}

/// The first warning's message.
async fn first_warning(events: &mut broadcast::Receiver<RecorderEvent>) -> String {
    collect(events, 1, "a warning", |e| match e {
        RecorderEvent::Warning { message, .. } => Some(message),
        _ => None,
    })
    .await
    .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_through_the_virtual_microphone_lands_in_sqlite_and_exports() {
    let emulator = emulator().await;
    let proxy = dev_proxy(&emulator).await;
    let mic = VirtualMic::new("hark_it_recorder", 48_000, 1);
    let script = Script::new()
        .pause(600)
        .say("1 2 3")
        .pause(900)
        .say("4 5 6 7")
        .pause(900)
        .say("9 0")
        .pause(900);
    let wav = scratch("recorder").join("script.wav");
    write_wav(&wav, script.samples());

    let recorder = recorder("recorder", Some(proxy));
    // A just-created virtual device takes the sound server a moment to settle; real ones don't.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recording = recorder
        .start(options(&mic, "Backend engineer"))
        .await
        .unwrap();
    let mut events = recording.subscribe();
    // Play once the call is live, as a recruiter speaks after pressing record.
    let live = collect(
        &mut events,
        1,
        "audio flowing to the transcriber",
        |e| match e {
            RecorderEvent::Live { after_ms, .. } => Some(after_ms),
            _ => None,
        },
    )
    .await[0];
    let played_at_ms = recording.position_ms();
    let play_started = std::time::Instant::now();
    let player = tokio::task::spawn_blocking({
        let wav = wav.clone();
        move || mic.play(&wav)
    });
    let (stored_after, finals): (Vec<_>, Vec<_>) =
        collect(&mut events, 3, "three finals", |e| match e {
            RecorderEvent::Final { segment, .. } => Some((play_started.elapsed(), segment)),
            _ => None,
        })
        .await
        .into_iter()
        .unzip();
    player.await.unwrap();
    // A bookmark lands at the current position.
    let note = recording
        .add_note(hark_store::NoteKind::Bookmark, "strong answer")
        .await
        .unwrap();
    assert!(note.at_ms >= played_at_ms && note.at_ms <= recording.position_ms());
    // Language and prompt change mid-session with `session.update` on the live call.
    recording.set_hints(Some("fr".into()), Some("Hark, WebRTC".into()));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !emulator
        .calls()
        .iter()
        .any(|c| c.client_events.iter().any(|e| e == "session.update"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no session.update reached the emulator"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = recording.stop().await.unwrap();
    eprintln!("recorder: record pressed → live after {live:.1} ms");
    // Speech end → final stored (includes the server's 500 ms silence window).
    for ((_, end), at) in utterance_spans(script.samples()).iter().zip(&stored_after) {
        eprintln!(
            "recorder: utterance ending at {end} ms stored {:.0} ms after it ended",
            at.as_secs_f64() * 1000.0 - *end as f64
        );
    }

    // Exactly the script, in order, stored before it was announced.
    let texts: Vec<&str> = finals.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, script.expected_transcripts());
    // The only audio the live transcript missed is the moments before the call connected,
    // kept as a gap that back-fill finds silent and drops.
    let gaps = recorder.store().call(|s| s.gaps()).await.unwrap();
    assert!(
        gaps.iter().all(|g| g.segment.end_ms <= played_at_ms),
        "{gaps:?}"
    );
    let filled = recorder.fill_gaps(&Token::None, &|| true).await.unwrap();
    assert_eq!((filled.gaps, filled.segments.len()), (gaps.len(), 0));
    // Too short to mention when the recording stops (the app says nothing under 2 s).
    assert!(summary.missed_ms < 2_000, "{summary:?}");
    // The silent gap's removal is a change an open session view must show.
    assert_eq!(filled.sessions, [summary.session_id]);
    let id = summary.session_id.to_string();
    let detail = recorder
        .store()
        .call(move |store| store.session(&id))
        .await
        .unwrap();
    let stored: Vec<&str> = detail.segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(stored, script.expected_transcripts());
    // Plausible timings: in order, after the script started playing, within the recording.
    let mut previous = played_at_ms;
    for segment in &detail.segments {
        assert!(segment.start_ms >= previous - 400, "{detail:#?}");
        assert!(segment.end_ms > segment.start_ms);
        assert!(segment.end_ms <= (summary.seconds * 1000.0) as i64 + 100);
        previous = segment.end_ms;
    }
    assert_eq!(summary.segments, 3);
    let recording_file = summary.recording.clone().unwrap();
    let tracks = hark_audio::recording::read(Path::new(&recording_file)).unwrap();
    assert!((tracks[0].seconds() - summary.seconds).abs() < 0.1);

    // Exports: every segment once, cues in order with valid times.
    let srt = render(&detail, Format::Srt).unwrap();
    let cues = parse_cues(&srt, ',');
    assert_eq!(cues.len(), 3, "{srt}");
    let vtt = render(&detail, Format::Vtt).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n"));
    let vtt_cues = parse_cues(&vtt, '.');
    assert_eq!(vtt_cues, cues);
    for (cue, segment) in cues.iter().zip(&detail.segments) {
        assert_eq!((cue.0, cue.1), (segment.start_ms, segment.end_ms));
        assert!(cue.2.ends_with(&segment.text));
    }
    let md = render(&detail, Format::Md).unwrap();
    assert!(md.starts_with("# Backend engineer\n"));
    assert!(md.contains("**You** [0:0"), "{md}");
    assert_eq!(detail.notes.len(), 1);
    assert!(
        md.contains("## Notes") && md.contains("strong answer"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(&detail, Format::Json).unwrap()).unwrap();
    assert_eq!(json["segments"].as_array().unwrap().len(), 3);
    // Searchable at once.
    let hits = recorder
        .store()
        .call(|store| store.search("4 5 6", 10))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_proxy_warns_and_the_recording_is_kept() {
    let mic = VirtualMic::new("hark_it_offline", 48_000, 1);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let recorder = recorder("offline", Some(url));
    let recording = recorder
        .start(options(&mic, "Offline interview"))
        .await
        .unwrap();
    let mut events = recording.subscribe();
    let warning = first_warning(&mut events).await;
    assert!(warning.contains("cannot reach the Hark proxy"), "{warning}");
    assert!(warning.contains("recording continues"), "{warning}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let summary = recording.stop().await.unwrap();
    assert!(summary.seconds >= 1.0, "{summary:?}");
    let tracks =
        hark_audio::recording::read(Path::new(summary.recording.as_ref().unwrap())).unwrap();
    assert!(tracks[0].seconds() >= 1.0);
    let sessions = recorder
        .store()
        .call(|store| store.sessions())
        .await
        .unwrap();
    assert_eq!(sessions[0].sync_state.as_deref(), Some("pending"));
}

/// Reads SRT/VTT cues: (start ms, end ms, text); panics on a malformed cue or times out of order.
fn parse_cues(text: &str, sep: char) -> Vec<(i64, i64, String)> {
    let time = |t: &str| -> i64 {
        let (hms, ms) = t.trim().split_once(sep).expect("milliseconds");
        let parts: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts.len(), 3, "hh:mm:ss in {t}");
        ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<i64>().unwrap()
    };
    let mut cues = Vec::new();
    let mut last_end = 0;
    for block in text.split("\n\n").filter(|b| b.contains("-->")) {
        let line = block.lines().find(|l| l.contains("-->")).unwrap();
        let (start, end) = line.split_once("-->").unwrap();
        let (start, end) = (time(start), time(end));
        assert!(start < end && start >= last_end, "cue times in {block}");
        last_end = end;
        let body = block
            .lines()
            .skip_while(|l| !l.contains("-->"))
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ");
        let body = body.replace("<v You>", "You: ");
        cues.push((start, end, body));
    }
    cues
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microphone_and_system_audio_give_two_labelled_transcripts() {
    let emulator = emulator().await;
    let proxy = dev_proxy(&emulator).await;
    let mic = VirtualMic::new("hark_it_two_mic", 48_000, 1);
    let speakers = VirtualMic::new("hark_it_two_speakers", 48_000, 2);
    let you = Script::new().pause(400).say("1 1").pause(900);
    let candidate = Script::new().pause(400).say("8 8 8").pause(900);
    let dir = scratch("two-sources");
    write_wav(&dir.join("you.wav"), you.samples());
    write_wav(&dir.join("candidate.wav"), candidate.samples());
    let recorder = recorder("two-sources", Some(proxy));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut start = options(&mic, "Two sources");
    start.system_audio = Some(DeviceChoice::Id(format!(
        "pulseaudio:{}_feed.monitor",
        speakers.name
    )));
    let recording = recorder.start(start).await.unwrap();
    let mut events = recording.subscribe();
    collect(&mut events, 2, "both sources live", |e| {
        matches!(e, RecorderEvent::Live { .. }).then_some(())
    })
    .await;
    let (you_wav, candidate_wav) = (dir.join("you.wav"), dir.join("candidate.wav"));
    let play_you = tokio::task::spawn_blocking(move || mic.play(&you_wav));
    let play_candidate = tokio::task::spawn_blocking(move || speakers.play(&candidate_wav));
    let mut finals = collect(&mut events, 2, "two finals", |e| match e {
        RecorderEvent::Final { source, segment } => Some((source, segment.text)),
        _ => None,
    })
    .await;
    play_you.await.unwrap();
    play_candidate.await.unwrap();
    let summary = recording.stop().await.unwrap();
    finals.sort();
    assert_eq!(
        finals,
        [
            ("microphone".to_string(), "1 1".to_string()),
            ("system".to_string(), "8 8 8".to_string())
        ]
    );
    let id = summary.session_id.to_string();
    let detail = recorder
        .store()
        .call(move |s| s.session(&id))
        .await
        .unwrap();
    let txt = render(&detail, Format::Txt).unwrap();
    assert!(
        txt.contains("You: 1 1") && txt.contains("Candidate: 8 8 8"),
        "{txt}"
    );
    let tracks =
        hark_audio::recording::read(Path::new(summary.recording.as_ref().unwrap())).unwrap();
    let labels: Vec<&str> = tracks.iter().map(|t| t.source.as_str()).collect();
    assert_eq!(labels, ["microphone", "system"]);
}

fn hark(data_dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(hark_binary())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(data_dir.join("absent.toml"))
        .env_remove("HARK_PROXY_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hark_cli_records_lists_exports_and_fails_clearly() {
    let emulator = emulator().await;
    let proxy = dev_proxy(&emulator).await;
    let mic = VirtualMic::new("hark_it_cli", 48_000, 1);
    let script = Script::new()
        .pause(1_500)
        .say("2 4 6")
        .pause(900)
        .say("8 0")
        .pause(900);
    let dir = scratch("cli");
    let data = dir.join("data");
    write_wav(&dir.join("script.wav"), script.samples());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mic_id = mic.id();
    let record = tokio::task::spawn_blocking({
        let (data, proxy) = (data.clone(), proxy.clone());
        move || {
            hark(
                &data,
                &[
                    "record",
                    "--interview",
                    "CLI interview",
                    "--mic",
                    &mic_id,
                    "--duration",
                    "7",
                    "--proxy-url",
                    &proxy,
                ],
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let wav = dir.join("script.wav");
    tokio::task::spawn_blocking(move || mic.play(&wav))
        .await
        .unwrap();
    let output = record.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].ends_with("] You: 2 4 6") && lines[1].ends_with("] You: 8 0"),
        "{stdout}"
    );

    let sessions = hark(&data, &["sessions", "--json"]);
    let sessions: serde_json::Value = serde_json::from_slice(&sessions.stdout).unwrap();
    let id = sessions[0]["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(sessions[0]["segments"], 2);
    assert_eq!(sessions[0]["job_title"], "CLI interview");
    let vtt = hark(&data, &["export", &id[..8], "--format", "vtt"]);
    assert!(vtt.status.success());
    // A Word document, to a file or piped, that Word-compatible readers open with the text.
    let docx_path = data.join("cli.docx");
    let docx = hark(
        &data,
        &[
            "export",
            &id[..8],
            "--format",
            "docx",
            "--out",
            docx_path.to_str().unwrap(),
        ],
    );
    assert!(
        docx.status.success(),
        "{}",
        String::from_utf8_lossy(&docx.stderr)
    );
    let piped = hark(&data, &["export", &id[..8], "--format", "docx"]);
    assert_eq!(piped.stdout, std::fs::read(&docx_path).unwrap());
    let document = docx_rs::read_docx(&piped.stdout).unwrap().json();
    assert!(
        document.contains("8 0") && document.contains("CLI interview"),
        "{document}"
    );
    let cues = parse_cues(&String::from_utf8_lossy(&vtt.stdout), '.');
    assert_eq!(cues.len(), 2);
    let found = hark(&data, &["search", "8 0"]);
    assert!(String::from_utf8_lossy(&found.stdout).contains(&id));

    // Scripts can rely on the exit codes and a message naming the fix.
    let missing = hark(&data, &["show", "ffffffff"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("hark sessions"));
    let bad = hark(
        &data,
        &["record", "--interview", "x", "--proxy-url", "ftp://nowhere"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an http(s) URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_warns_with_the_reason_and_keeps_recording() {
    let emulator = emulator().await;
    emulator.set_faults(hark_tests::emulator::Faults {
        reject_status: Some(429),
        retry_after_secs: Some(7),
        ..Default::default()
    });
    let proxy = dev_proxy(&emulator).await;
    let mic = VirtualMic::new("hark_it_refused", 48_000, 1);
    let recorder = recorder("refused", Some(proxy));
    let recording = recorder.start(options(&mic, "Refused")).await.unwrap();
    let mut events = recording.subscribe();
    let warning = first_warning(&mut events).await;
    assert!(
        warning.contains("refused the call (503, upstream_busy)"),
        "{warning}"
    );
    assert!(warning.contains("retrying in 7 s"), "{warning}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = recording.stop().await.unwrap();
    assert!(summary.seconds > 0.4, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_turn_mode_commits_each_utterance_found_by_the_client_vad() {
    let emulator = emulator().await;
    let proxy = dev_proxy_with(&emulator, &[("TRANSCRIBE_MODEL", "gpt-live-transcribe")]).await;
    let mic = VirtualMic::new("hark_it_manual", 48_000, 1);
    let script = Script::new()
        .pause(600)
        .say("3 1 4")
        .pause(1_000)
        .say("1 5 9 2")
        .pause(1_000);
    let wav = scratch("manual").join("script.wav");
    write_wav(&wav, script.samples());
    let recorder = recorder("manual", Some(proxy));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recording = recorder.start(options(&mic, "Manual mode")).await.unwrap();
    let mut events = recording.subscribe();
    collect(&mut events, 1, "live", |e| {
        matches!(e, RecorderEvent::Live { .. }).then_some(())
    })
    .await;
    let played_at_ms = recording.position_ms();
    tokio::task::spawn_blocking(move || mic.play(&wav))
        .await
        .unwrap();
    let finals = collect(&mut events, 2, "two finals", |e| match e {
        RecorderEvent::Final { segment, .. } => Some(segment),
        _ => None,
    })
    .await;
    recording.stop().await.unwrap();
    let texts: Vec<&str> = finals.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, script.expected_transcripts());
    // The spans are the client's own: each covers its tones, prefix included.
    for (segment, (tones_start, tones_end)) in finals.iter().zip(utterance_spans(script.samples()))
    {
        let (tones_start, tones_end) = (played_at_ms + tones_start, played_at_ms + tones_end);
        assert!(
            segment.start_ms <= tones_start + 100 && segment.start_ms >= tones_start - 500,
            "start near {tones_start}: {segment:?}"
        );
        assert!(
            segment.end_ms >= tones_end - 100 && segment.end_ms <= tones_end + 300,
            "end near {tones_end}: {segment:?}"
        );
    }
    let calls = emulator.calls();
    assert_eq!(calls[0].turn_detection, "manual");
    let commits = calls[0]
        .client_events
        .iter()
        .filter(|e| *e == "input_audio_buffer.commit")
        .count();
    assert_eq!(commits, 2, "{:?}", calls[0].client_events);
}

/// What happens as a recording starts (the chosen microphone is unplugged and the default
/// stands in; no transcription service is configured) is sent before `start` returns: the
/// first subscriber still gets it, so the window can say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_happens_as_a_recording_starts_reaches_its_first_subscriber() {
    let mic = VirtualMic::new("hark_it_early", 48_000, 1);
    let recorder = recorder("early", None);
    let mut unplugged = options(&mic, "Early events");
    unplugged.microphone = DeviceChoice::Id("pulseaudio:hark_it_unplugged".into());
    let recording = recorder.start(unplugged).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut events = recording.subscribe();
    let mut said = collect(&mut events, 2, "the early events", |e| match e {
        RecorderEvent::Audio {
            event:
                hark_audio::Event::Switched {
                    reason: hark_audio::engine::SwitchReason::Fallback,
                    from,
                    ..
                },
        } => Some(format!("fallback from {from}")),
        RecorderEvent::Warning { message, .. } => Some(message),
        _ => None,
    })
    .await;
    said.sort();
    assert_eq!(said[0], "fallback from pulseaudio:hark_it_unplugged");
    assert!(
        said[1].starts_with("no transcription service is configured"),
        "{said:?}"
    );
    recording.stop().await.unwrap();
}

/// The store refuses for a while (another process holds the database, as a backup tool might):
/// transcription goes on meanwhile, the segments wait in order and are saved and announced
/// once the store answers again; the transcript loses nothing and keeps its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_the_store_refuses_for_a_while_wait_in_order_while_transcription_goes_on() {
    let emulator = emulator().await;
    let proxy = dev_proxy(&emulator).await;
    let mic = VirtualMic::new("hark_it_busy_store", 48_000, 1);
    let first = Script::new().pause(300).say("1 2").pause(900);
    // Spoken well over a second into the first save: past what the uplink queue (1 s) holds.
    let second = Script::new().pause(1_500).say("3 4").pause(900);
    let dir = scratch("busy-store");
    let (first_wav, second_wav) = (dir.join("first.wav"), dir.join("second.wav"));
    write_wav(&first_wav, first.samples());
    write_wav(&second_wav, second.samples());
    let recorder = recorder("busy-store", Some(proxy));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recording = recorder.start(options(&mic, "Busy store")).await.unwrap();
    let mut events = recording.subscribe();
    until_live(&mut events).await;

    // Another connection holds the database: writes wait 5 s, then fail.
    let holder = rusqlite::Connection::open(recorder.config().database()).unwrap();
    holder.execute_batch("begin exclusive").unwrap();
    // The first words, then the next ones while the store is still refusing the first: they
    // are transcribed all the same (an uplink waiting for the store would drop them), and wait
    // behind the first.
    tokio::task::spawn_blocking(move || {
        mic.play(&first_wav);
        mic.play(&second_wav);
    })
    .await
    .unwrap();
    let refused = first_warning(&mut events).await;
    assert!(refused.contains("it is kept and saved again"), "{refused}");
    holder.execute_batch("rollback").unwrap();
    let announced = collect(&mut events, 2, "both finals, once saved", |e| match e {
        RecorderEvent::Final { segment, .. } => Some(segment.text),
        _ => None,
    })
    .await;
    assert_eq!(announced, ["1 2", "3 4"]);
    let summary = recording.stop().await.unwrap();
    assert_eq!(
        stored_texts(&recorder, summary.session_id).await,
        ["1 2", "3 4"]
    );
}

/// Where the back-fill tests start: an emulator with `faults` behind a `--dev` proxy, a recorder
/// through it, and a virtual microphone with `script` ready to play (`play`).
async fn with_faults(
    name: &str,
    faults: hark_tests::emulator::Faults,
    script: &Script,
) -> (
    hark_tests::emulator::Emulator,
    Recorder,
    VirtualMic,
    std::path::PathBuf,
) {
    let emulator = emulator().await;
    emulator.set_faults(faults);
    let proxy = dev_proxy(&emulator).await;
    let mic = VirtualMic::new(&format!("hark_it_{name}"), 48_000, 1);
    let wav = scratch(name).join("script.wav");
    write_wav(&wav, script.samples());
    let recorder = recorder(name, Some(proxy));
    // A just-created virtual device takes the sound server a moment to settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    (emulator, recorder, mic, wav)
}

/// Plays `wav` through `mic` to its end.
async fn play(mic: VirtualMic, wav: std::path::PathBuf) {
    tokio::task::spawn_blocking(move || mic.play(&wav))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_said_while_the_transcriber_refused_is_back_filled_once_it_answers() {
    use hark_store::SegmentStatus::{Backfilled, Failed};
    let script = Script::new()
        .pause(800)
        .say("2 7 1 8")
        .pause(900)
        .say("3 1 4")
        .pause(800);
    // Every call (and every file) refused, to be tried again in 30 s: the live transcript is
    // offline for the whole recording.
    let faults = hark_tests::emulator::Faults {
        reject_status: Some(503),
        retry_after_secs: Some(30),
        ..Default::default()
    };
    let (emulator, recorder, mic, wav) = with_faults("backfill", faults, &script).await;
    let recording = recorder.start(options(&mic, "Offline")).await.unwrap();
    let session = recording.session.id;
    let mut events = recording.subscribe();
    let warning = first_warning(&mut events).await;
    assert!(warning.contains("retrying in 30 s"), "{warning}");
    play(mic, wav).await;
    let summary = recording.stop().await.unwrap();

    // What the live transcript missed is kept as one gap spanning the speech.
    let gaps = recorder.store().call(|s| s.gaps()).await.unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let spans = utterance_spans(script.samples());
    let gap = &gaps[0].segment;
    assert!(gap.start_ms <= 800, "{gap:?}");
    assert!(
        gap.end_ms as f64 >= summary.seconds * 1000.0 - 600.0,
        "{gap:?} {summary:?}"
    );
    assert_eq!(
        stored_lines(&recorder, session).await,
        vec![(Failed, String::new())]
    );
    assert_eq!(summary.missed_ms, gap.end_ms - gap.start_ms, "{summary:?}");

    // Still refused: the gap waits, and the error says why. (The emulator refuses before
    // reading the upload and drops the connection, which the proxy may see as a failed
    // upstream: 502 instead of 503.)
    let filled = recorder.fill_gaps(&Token::None, &|| true).await.unwrap();
    let why = filled.stopped.clone().unwrap_or_default();
    assert!(why.contains("refused the transcription (50"), "{filled:?}");
    assert_eq!((filled.gaps, filled.left), (0, 1), "{filled:?}");
    assert_eq!(recorder.store().call(|s| s.gaps()).await.unwrap().len(), 1);

    // Once the service answers, the gap becomes the exact transcript, one segment an utterance,
    // on the recording's timeline; but not while a recording runs (the app's pass gives way).
    emulator.set_faults(hark_tests::emulator::Faults::default());
    let yielded = recorder.fill_gaps(&Token::None, &|| false).await.unwrap();
    assert_eq!(yielded.stopped.as_deref(), Some("a recording started"));
    assert_eq!(recorder.store().call(|s| s.gaps()).await.unwrap().len(), 1);
    let filled = recorder.fill_gaps(&Token::None, &|| true).await.unwrap();
    assert_eq!((filled.gaps, filled.left), (1, 0), "{filled:?}");
    let expected: Vec<_> = script
        .expected_transcripts()
        .iter()
        .map(|text| (Backfilled, text.clone()))
        .collect();
    assert_eq!(stored_lines(&recorder, session).await, expected);
    let detail = recorder
        .store()
        .call(move |store| store.session(&session.to_string()))
        .await
        .unwrap();
    // The script's utterances are played after the recording started, so they sit later on its
    // timeline; each back-filled span holds its utterance (its length within VAD's margins).
    for (segment, (start, end)) in detail.segments.iter().zip(&spans) {
        let (len, said) = (segment.end_ms - segment.start_ms, end - start);
        assert!(
            (said - 100..=said + 900).contains(&len),
            "{segment:?} for {start}..{end}"
        );
    }
    assert!(
        recorder
            .store()
            .call(|s| s.gaps())
            .await
            .unwrap()
            .is_empty()
    );
    // Found by search, like any transcript.
    let hits = recorder
        .store()
        .call(|store| store.search("2 7 1 8", 10))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_words_whose_transcript_never_came_are_back_filled_after_the_stop() {
    use hark_store::SegmentStatus::{Backfilled, Failed, Final};
    let script = Script::new()
        .pause(600)
        .say("5 5 2")
        .pause(900)
        .say("8 0 9")
        .pause(900);
    // The second utterance's transcript never completes (its deltas still come).
    let faults = hark_tests::emulator::Faults {
        withhold_completed: vec![1],
        ..Default::default()
    };
    let (_emulator, recorder, mic, wav) = with_faults("tail", faults, &script).await;
    let recording = recorder.start(options(&mic, "Tail")).await.unwrap();
    let session = recording.session.id;
    let mut events = recording.subscribe();
    until_live(&mut events).await;
    play(mic, wav).await;
    recording.stop().await.unwrap();
    // The words whose transcript never came are kept as a gap after the last final (and the
    // moments before the call connected as another).
    let stored_now = stored_lines(&recorder, session).await;
    let finals: Vec<_> = stored_now.iter().filter(|(s, _)| *s == Final).collect();
    assert_eq!(finals, [&(Final, "5 5 2".to_owned())], "{stored_now:?}");
    assert_eq!(
        stored_now.last(),
        Some(&(Failed, String::new())),
        "{stored_now:?}"
    );

    // Back-fill transcribes the words and drops the gap that held only silence.
    let filled = recorder.fill_gaps(&Token::None, &|| true).await.unwrap();
    assert_eq!(filled.gaps, stored_now.len() - 1, "{filled:?}");
    assert_eq!(
        stored_lines(&recorder, session).await,
        vec![
            (Final, "5 5 2".to_owned()),
            (Backfilled, "8 0 9".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_said_while_the_network_was_down_is_back_filled_and_the_call_redialled() {
    use hark_store::SegmentStatus::{Backfilled, Failed, Final};
    let script = Script::new()
        .pause(600)
        .say("6 0 2")
        .pause(900)
        .say("3 3 8")
        // The cut is noticed about 5 s in and the call redialled; room for a busy machine.
        .pause(12_000)
        .say("9 1")
        .pause(900);
    let (emulator, recorder, mic, wav) = with_faults("network", Default::default(), &script).await;
    // The first call's network dies as the second utterance starts and never comes back; the
    // next call's is fine.
    emulator.push_next_call_faults(hark_tests::emulator::Faults {
        network_down_at_utterance: Some(1),
        ..Default::default()
    });
    let recording = recorder.start(options(&mic, "Network")).await.unwrap();
    let session = recording.session.id;
    let mut events = recording.subscribe();
    until_live(&mut events).await;
    let player = tokio::spawn(play(mic, wav));
    // Said while the script plays, without waiting for the connection to fail for good (25 s).
    let warning = first_warning(&mut events).await;
    let warned_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        warning.contains("the network dropped") && warning.contains("reconnecting"),
        "{warning}"
    );
    player.await.unwrap();
    recording.stop().await.unwrap();
    let calls = emulator.calls();
    assert_eq!(calls.len(), 2, "redialled once: {calls:?}");
    let cut_at = calls[0]
        .network_cut_at_ms
        .expect("the first call's network was cut");
    assert_eq!(calls[1].network_cut_at_ms, None, "{calls:?}");
    eprintln!(
        "recorder: network cut → warning {} ms, → next call created {} ms",
        warned_at_ms.saturating_sub(cut_at),
        calls[1].created_at_ms.saturating_sub(cut_at)
    );

    // Live: the words before the cut and after the new call; what the cut swallowed is a gap.
    let stored_now = stored_lines(&recorder, session).await;
    let finals: Vec<_> = stored_now
        .iter()
        .filter(|(s, _)| *s == Final)
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(finals, ["6 0 2", "9 1"], "{stored_now:?}");
    // The gap that matters starts after the first line, where the cut was (another may hold
    // the moments before the first call connected).
    let id = session.to_string();
    let detail = recorder
        .store()
        .call(move |store| store.session(&id))
        .await
        .unwrap();
    let first_end = detail
        .segments
        .iter()
        .find(|s| s.status == Final)
        .unwrap()
        .end_ms;
    assert!(
        detail
            .segments
            .iter()
            .any(|s| s.status == Failed && s.start_ms >= first_end),
        "{stored_now:?}"
    );

    // Back-fill puts the swallowed words where they were said and drops the silent gaps.
    recorder.fill_gaps(&Token::None, &|| true).await.unwrap();
    assert_eq!(
        stored_lines(&recorder, session).await,
        vec![
            (Final, "6 0 2".to_owned()),
            (Backfilled, "3 3 8".to_owned()),
            (Final, "9 1".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_said_while_the_call_was_still_being_set_up_is_back_filled() {
    use hark_store::SegmentStatus::Backfilled;
    let script = Script::new()
        .pause(500)
        .say("4 4 0")
        .pause(900)
        .say("1 9")
        .pause(700);
    // The transcriber takes longer to answer than the whole recording lasts; files it answers.
    let faults = hark_tests::emulator::Faults {
        answer_delay_ms: 15_000,
        ..Default::default()
    };
    let (_emulator, recorder, mic, wav) = with_faults("dialling", faults, &script).await;
    let recording = recorder.start(options(&mic, "Dialling")).await.unwrap();
    let session = recording.session.id;
    play(mic, wav).await;
    let summary = recording.stop().await.unwrap();
    // Frames queued while dialling overflowed and the rest were never sent: all one gap.
    let gaps = recorder.store().call(|s| s.gaps()).await.unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].segment.start_ms, 0, "{gaps:?}");
    assert!(
        gaps[0].segment.end_ms as f64 >= summary.seconds * 1000.0 - 100.0,
        "{gaps:?} {summary:?}"
    );
    // `hark backfill` does what the app does by itself: without a proxy it says what is missing;
    // with one it transcribes the gap.
    let data_dir = recorder.config().data_dir.clone();
    let refused = hark(&data_dir, &["backfill"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no proxy is configured"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let proxy = recorder.config().proxy_url.clone().unwrap();
    let done = hark(&data_dir, &["backfill", "--proxy-url", &proxy]);
    let said = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{said}");
    assert!(
        said.contains("1 part(s) the live transcript missed transcribed into 2 segment(s); 0 left"),
        "{said}"
    );
    let expected: Vec<_> = script
        .expected_transcripts()
        .iter()
        .map(|text| (Backfilled, text.clone()))
        .collect();
    assert_eq!(stored_lines(&recorder, session).await, expected);
}
