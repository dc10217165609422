//! `hark-capture`: lists capture devices and records sources into an Ogg/Opus file through the
//! engine, printing the engine's events as JSON lines (a diagnostics tool, and the child process
//! of the crash-safety test).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hark_audio::engine::{EngineConfig, Event, Frame, Output, SourceSpec};
use hark_audio::{DeviceChoice, Engine, SourceKind};

#[derive(Parser)]
#[command(about = "Lists audio devices and records them through Hark's audio engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lists microphones and system-audio sources as JSON, one per line.
    Devices,
    /// Records into an Ogg/Opus file until the time is up or the process is stopped.
    Record {
        /// The recording file to create.
        out: PathBuf,
        /// Microphone device id (from `devices`); the default microphone if left out.
        #[arg(long)]
        mic: Option<String>,
        /// Also record system audio: `default`, or a device id.
        #[arg(long)]
        system: Option<String>,
        /// Stop after this many seconds (otherwise run until killed).
        #[arg(long)]
        seconds: Option<f64>,
        /// Warn after this many seconds of digital silence.
        #[arg(long, default_value_t = 10.0)]
        silence_after: f64,
        /// Also print every level event.
        #[arg(long)]
        levels: bool,
    },
}

/// Prints events as JSON lines.
struct Printer {
    levels: bool,
    out: Mutex<std::io::Stdout>,
}

impl Output for Printer {
    fn frame(&self, _frame: &Frame<'_>) {}

    fn event(&self, event: Event) {
        if matches!(event, Event::Level { .. }) && !self.levels {
            return;
        }
        if let (Ok(line), Ok(mut out)) = (serde_json::to_string(&event), self.out.lock()) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

fn choice(id: Option<String>) -> DeviceChoice {
    match id.as_deref() {
        None | Some("default") => DeviceChoice::Default,
        Some(id) => DeviceChoice::Id(id.to_string()),
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Devices => {
            for device in hark_audio::list_devices()? {
                println!("{}", serde_json::to_string(&device)?);
            }
        }
        Command::Record {
            out,
            mic,
            system,
            seconds,
            silence_after,
            levels,
        } => {
            let mut sources = vec![SourceSpec {
                label: "microphone".into(),
                kind: SourceKind::Microphone,
                device: choice(mic),
            }];
            if system.is_some() {
                sources.push(SourceSpec {
                    label: "system".into(),
                    kind: SourceKind::System,
                    device: choice(system),
                });
            }
            let mut config = EngineConfig::new(sources, out.clone());
            config.silence_after = Duration::from_secs_f64(silence_after);
            let printer = Arc::new(Printer {
                levels,
                out: Mutex::new(std::io::stdout()),
            });
            let engine = Engine::start(config, printer.clone())
                .with_context(|| format!("cannot record into {}", out.display()))?;
            printer.event_line(&serde_json::json!({"type": "recording", "file": out}));
            match seconds {
                Some(seconds) => std::thread::sleep(Duration::from_secs_f64(seconds)),
                None => loop {
                    std::thread::park();
                },
            }
            let stats = engine.stop()?;
            printer.event_line(&serde_json::json!({"type": "stopped", "stats": stats}));
        }
    }
    Ok(())
}

impl Printer {
    fn event_line(&self, value: &serde_json::Value) {
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{value}");
            let _ = out.flush();
        }
    }
}
