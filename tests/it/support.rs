//! Shared helpers: start an emulator, build sessions, make a DTMF script.

use std::time::Duration;

use hark_tests::emulator::{Emulator, EmulatorConfig};
use hark_wire::realtime::SessionConfig;

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
