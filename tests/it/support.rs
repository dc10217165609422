//! Shared helpers: start an emulator and a `--dev` proxy in front of it, build sessions, find
//! the utterances of a DTMF script.

use std::time::Duration;

use hark_tests::emulator::{Emulator, EmulatorConfig};
pub use hark_tests::serve::proxy;
use hark_wire::realtime::SessionConfig;

/// The password of every user the tests create.
pub const PASSWORD: &str = "correct horse battery";

/// A user of `project` with [`PASSWORD`], signed in; returns the email and the session.
pub async fn user(
    project: &hark_tests::supabase::Project,
    label: &str,
) -> (String, hark_tests::supabase::Session) {
    let email = format!("{label}-{}@example.test", uuid::Uuid::new_v4().simple());
    project.create_user(&email, PASSWORD).await;
    let session = project.sign_in(&email, PASSWORD).await;
    (email, session)
}

/// An emulator on a free loopback port.
pub async fn emulator() -> Emulator {
    emulator_with(EmulatorConfig::default()).await
}

/// An emulator with a custom configuration on a free loopback port.
pub async fn emulator_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("emulator starts")
}

/// A transcription session for `model`, with `turn_detection` given as raw JSON
/// (`None` leaves it out, so the server's default applies).
pub fn transcription_session(model: &str, turn_detection: Option<&str>) -> SessionConfig {
    let turn = turn_detection
        .map(|json| format!(r#","turn_detection":{json}"#))
        .unwrap_or_default();
    serde_json::from_str(&format!(
        r#"{{"type":"transcription","audio":{{"input":{{"transcription":{{"model":"{model}","language":"en"}}{turn}}}}}}}"#
    ))
    .expect("session JSON")
}

/// Generous bound for anything a test waits on over loopback.
pub const WAIT: Duration = Duration::from_secs(10);

/// A `--dev` proxy in front of `emulator`; returns its `…/v1`.
pub async fn dev_proxy(emulator: &Emulator) -> String {
    dev_proxy_with(emulator, &[]).await
}

/// [`dev_proxy`] with extra settings (`TRANSCRIBE_MODEL`, …).
pub async fn dev_proxy_with(emulator: &Emulator, extra: &[(&str, &str)]) -> String {
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    proxy(emulator, None, &extra).await
}

/// Start and end (ms) of each run of tones, split where the silence lasts over 300 ms.
pub fn utterance_spans(samples: &[f32]) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for (ms, chunk) in samples.chunks(48).enumerate() {
        if !chunk.iter().any(|s| s.abs() > 0.01) {
            continue;
        }
        let ms = ms as i64;
        match spans.last_mut() {
            Some((_, end)) if ms - *end <= 300 => *end = ms + 1,
            _ => spans.push((ms, ms + 1)),
        }
    }
    spans
}

/// Writes 48 kHz mono samples as a 16-bit WAV file (for the virtual microphone to play).
pub fn write_wav(path: &std::path::Path, samples: &[f32]) {
    std::fs::write(path, hark_tests::audio_files::wav_bytes(samples, 48_000, 1)).unwrap();
}

/// The `hark` binary, built beside this test binary (`cargo xtask test` builds it).
pub fn hark_binary() -> std::path::PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join(format!("hark{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p hark-recorder` (cargo xtask test does)",
        path.display()
    );
    path
}

/// The segments of `session` as (status, text), in timeline order.
pub async fn stored_lines(
    recorder: &hark_recorder::Recorder,
    session: uuid::Uuid,
) -> Vec<(hark_store::SegmentStatus, String)> {
    let detail = recorder
        .store()
        .call(move |store| store.session(&session.to_string()))
        .await
        .unwrap();
    detail
        .segments
        .into_iter()
        .map(|s| (s.status, s.text))
        .collect()
}

/// The texts of a session's transcript (its stored segments but the gaps left for back-fill), in
/// timeline order.
pub async fn stored_texts(recorder: &hark_recorder::Recorder, session: uuid::Uuid) -> Vec<String> {
    stored_lines(recorder, session)
        .await
        .into_iter()
        .filter(|(status, _)| *status != hark_store::SegmentStatus::Failed)
        .map(|(_, text)| text)
        .collect()
}

/// Runs `command` (a `hark record`) while `mic` plays `wav` into it, half a second after it
/// starts; its output once it has ended.
pub async fn run_while_playing(
    mut command: std::process::Command,
    mic: crate::audio_support::VirtualMic,
    wav: std::path::PathBuf,
) -> std::process::Output {
    let running = tokio::task::spawn_blocking(move || command.output().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mic = tokio::task::spawn_blocking(move || {
        mic.play(&wav);
        mic
    })
    .await
    .unwrap();
    let output = running.await.unwrap();
    drop(mic);
    output
}
