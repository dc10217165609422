//! Benchmark: live capture through the whole engine (PulseAudio virtual microphone at 44.1 kHz
//! stereo → libpulse (cpal off Linux) → ring → downmix → resample → frame → levels → Opus → Ogg file) for 30 s of
//! real-time speech, beside `parec | opusenc` capturing and encoding the same source in the same
//! run. Reports CPU per second of audio, callback-to-frame latency and memory.
//! Run inside the test stack: `cargo xtask stack`, export what it prints, then
//! `cargo bench -p hark-audio --bench capture`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hark_audio::engine::{EngineConfig, Event, Frame, Output, SourceSpec};
use hark_audio::{DeviceChoice, Engine, SourceKind};
use support::{VirtualMic, cpu_seconds, pulse_server, scratch, status_kib, test_audio};

const SECONDS: u64 = 30;

/// Counts what the engine hands on, as a recorder's channel send would cost.
#[derive(Default)]
struct Counter {
    frames: AtomicU64,
    bytes: AtomicU64,
    levels: AtomicU64,
}

impl Output for Counter {
    fn frame(&self, frame: &Frame<'_>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(frame.packet.data.len() as u64, Ordering::Relaxed);
    }

    fn event(&self, event: Event) {
        if matches!(event, Event::Level { .. }) {
            self.levels.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    pulse_server();
    let dir = scratch("bench");
    let mic = VirtualMic::new("hark_bench", 44_100, 2);
    // 30 s of speech and tones, looped.
    let clip = test_audio(&dir, 44_100, 2);
    let long = dir.join("long.wav");
    let status = Command::new("sox")
        .arg(&clip)
        .arg(&long)
        .args(["repeat", "12", "trim", "0", &SECONDS.to_string()])
        .status()?;
    assert!(status.success(), "sox could not build the long clip");

    // A just-created null sink takes the server a second or two to settle; real devices do not
    // need this, and the start figure should measure the engine, not the test rig.
    std::thread::sleep(Duration::from_secs(3));
    let rss_before = status_kib("self", "VmRSS");
    let counter = Arc::new(Counter::default());
    let config = EngineConfig::new(
        vec![SourceSpec {
            label: "microphone".into(),
            kind: SourceKind::Microphone,
            device: DeviceChoice::Id(mic.id()),
        }],
        dir.join("engine.ogg"),
    );
    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let engine = Engine::start(config, counter.clone())?;
    let start_ms = started.elapsed().as_secs_f64() * 1000.0;

    // The baseline records the same source at the same time: parec → opusenc → file.
    let baseline = Command::new("sh")
        .args([
            "-c",
            &format!(
                "parec --device={} --format=s16le --rate=48000 --channels=1 | \
                 opusenc --quiet --raw --raw-rate 48000 --raw-chan 1 --bitrate 24 --speech - {}",
                mic.name,
                dir.join("baseline.opus").display()
            ),
        ])
        .env("PULSE_SERVER", pulse_server())
        .stderr(Stdio::null())
        .spawn()?;

    mic.play(&long);
    let stats = engine.stop()?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu_before;
    let rss_peak = status_kib("self", "VmHWM");
    let baseline_cpu = children_cpu(baseline.id());
    let _ = Command::new("pkill")
        .args(["-P", &baseline.id().to_string()])
        .status();
    let mut baseline = baseline;
    let _ = baseline.wait();

    let s = &stats[0];
    println!(
        "capture: {wall:.1} s of 44.1 kHz stereo from a PulseAudio virtual microphone → engine → Ogg/Opus"
    );
    println!("  start (devices resolved, stream playing): {start_ms:.1} ms");
    println!(
        "  CPU {:.3} s over {wall:.1} s = {:.2} % of one core (all threads: sound-server client, ring, worker, file)",
        cpu,
        100.0 * cpu / wall
    );
    println!(
        "  callback → frame latency: mean {:.2} ms, worst {:.2} ms over {} callbacks",
        s.mean_latency_us as f64 / 1000.0,
        s.max_latency_us as f64 / 1000.0,
        s.callbacks
    );
    println!(
        "  frames {} (filled {}), dropped samples {}, levels {}, Opus {:.1} kbit/s",
        s.frames,
        s.filled_frames,
        s.dropped_samples,
        counter.levels.load(Ordering::Relaxed),
        counter.bytes.load(Ordering::Relaxed) as f64 * 8.0 / wall / 1000.0
    );
    println!(
        "  memory: RSS {} KiB before, peak {} KiB (+{} KiB)",
        rss_before,
        rss_peak,
        rss_peak.saturating_sub(rss_before)
    );
    match baseline_cpu {
        Some((cpu, rss)) => println!(
            "  baseline parec | opusenc on the same source: CPU {:.3} s = {:.2} % of one core, RSS {} KiB",
            cpu,
            100.0 * cpu / wall,
            rss
        ),
        None => println!(
            "  baseline parec | opusenc did not run (install pulseaudio-utils and opus-tools)"
        ),
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// CPU seconds and summed RSS of the shell's children (parec and opusenc), still running.
fn children_cpu(shell: u32) -> Option<(f64, u64)> {
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
    let pids: Vec<&str> = children.split_whitespace().collect();
    if pids.is_empty() {
        return None;
    }
    std::thread::sleep(Duration::from_millis(10));
    Some((
        pids.iter().map(|pid| cpu_seconds(pid)).sum(),
        pids.iter().map(|pid| status_kib(pid, "VmRSS")).sum(),
    ))
}
