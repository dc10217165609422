//! `realtime-emulator`: runs the OpenAI Realtime emulator as a standalone server for manual use.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use hark_tests::emulator::{DEFAULT_API_KEY, Emulator, EmulatorConfig, Faults};

/// Serves an emulation of OpenAI's Realtime API (calls over WebRTC, client secrets, batch
/// transcription) that transcribes DTMF tones. See tests/README.md.
#[derive(Debug, Parser)]
#[command(name = "realtime-emulator", version)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// The standard API key accepted.
    #[arg(long, env = "EMULATOR_API_KEY", default_value = DEFAULT_API_KEY)]
    api_key: String,
    /// Longest call, seconds (OpenAI: 3600).
    #[arg(long, default_value_t = 3600)]
    max_call_seconds: u64,
    /// Refuse calls, client secrets and transcriptions with this status (401, 429, 500, 503).
    #[arg(long)]
    reject_status: Option<u16>,
    /// Retry-After seconds with a 429/503 refusal.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Delay every call's answer, ms.
    #[arg(long, default_value_t = 0)]
    answer_delay_ms: u64,
    /// Drop every call this long after it is created, ms.
    #[arg(long)]
    drop_after_ms: Option<u64>,
    /// Drop every call when its first utterance starts.
    #[arg(long)]
    drop_mid_utterance: bool,
    /// Cut every call's network as this utterance (0-based) starts.
    #[arg(long)]
    network_down_at_utterance: Option<u32>,
    /// Bring the network back after this long, ms (default: never).
    #[arg(long)]
    network_down_for_ms: Option<u64>,
    /// Send a truncated event after session.created.
    #[arg(long)]
    malformed_event: bool,
    /// Send an event type clients do not know after session.created.
    #[arg(long)]
    unknown_event: bool,
    /// Never send .completed for these items (0-based, repeatable).
    #[arg(long)]
    withhold_completed: Vec<u32>,
    /// Fail the transcription of these items (0-based, repeatable).
    #[arg(long)]
    fail_item: Vec<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,webrtc=warn,rtc=warn".into()),
        )
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        listen: args.listen,
        api_key: args.api_key,
        max_call_duration: Duration::from_secs(args.max_call_seconds),
        faults: Faults {
            reject_status: args.reject_status,
            retry_after_secs: args.retry_after,
            answer_delay_ms: args.answer_delay_ms,
            drop_after_ms: args.drop_after_ms,
            drop_mid_utterance: args.drop_mid_utterance,
            network_down_at_utterance: args.network_down_at_utterance,
            network_down_for_ms: args.network_down_for_ms,
            malformed_event: args.malformed_event,
            unknown_event: args.unknown_event,
            withhold_completed: args.withhold_completed,
            fail_items: args.fail_item,
            max_call_ms: None,
        },
    };
    let emulator = Emulator::start(config).await?;
    println!(
        "OpenAI Realtime emulator listening: base URL {}",
        emulator.base_url()
    );
    println!("  API key: {}", emulator.api_key());
    println!("  calls:   curl http://{}/_emulator/calls", emulator.addr());
    println!(
        "  faults:  curl -X PUT -H 'content-type: application/json' -d '{{\"reject_status\":503}}' http://{}/_emulator/faults",
        emulator.addr()
    );
    println!(
        "Play DTMF tones into a call and get their digits back as the transcript. Ctrl-C stops."
    );
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
