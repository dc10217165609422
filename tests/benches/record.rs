//! Benchmark: `hark record` (the release binary) for ten minutes (`HARK_BENCH_SECONDS`) from the
//! test stack's virtual microphone, which plays a DTMF interview script in a loop, through the
//! `--dev` proxy to the emulator with a live transcript; CPU and peak memory of the process,
//! beside `parec | opusenc` recording the same microphone in the same run.
//! Run inside the test stack: `cargo build --release -p hark-recorder`, `cargo xtask stack`,
//! export what it prints, then `cargo bench -p hark-tests --bench record`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../crates/audio/tests/support/mod.rs"]
mod audio_support;

use audio_support::{cpu_seconds, status_kib};
use hark_tests::audio_files::wav_bytes;
use hark_tests::bench::{Looping, interview_minute, release_binary};
use hark_tests::emulator::{Emulator, EmulatorConfig};

/// Children of a shell (the pipeline's processes).
fn children(shell: &Child) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", shell.id()))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = hark_tests::bench::seconds();
    let (mic, feed) = hark_tests::bench::stack_microphone()?;
    let hark = release_binary("hark", "hark-recorder");
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let proxy = hark_tests::serve::proxy(&emulator, None, &[]).await;
    let dir = std::env::temp_dir().join(format!("hark-bench-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // About a minute of interview, looped while recording.
    let wav = dir.join("interview.wav");
    std::fs::write(&wav, wav_bytes(interview_minute().samples(), 48_000, 1))?;
    let looping = Looping::start(&feed, &wav);

    let data = dir.join("data");
    let recorder = Command::new(&hark)
        .args(["record", "--interview", "Benchmark interview", "--duration"])
        .arg(seconds.to_string())
        .arg("--proxy-url")
        .arg(&proxy)
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(dir.join("absent.toml"))
        .env_remove("HARK_SUPABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let baseline = Command::new("sh")
        .args([
            "-c",
            &format!(
                "parec --device={mic} --format=s16le --rate=48000 --channels=1 | \
                 opusenc --quiet --raw --raw-rate 48000 --raw-chan 1 --bitrate 24 --speech - {}",
                dir.join("baseline.opus").display()
            ),
        ])
        .stderr(Stdio::null())
        .spawn()?;

    // Measure from 10 s in (start-up excluded) to 5 s before the end.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pid = recorder.id();
    let pipeline = children(&baseline);
    let (hark_before, base_before) = (
        cpu_seconds(&pid.to_string()),
        pipeline
            .iter()
            .map(|p| cpu_seconds(&p.to_string()))
            .sum::<f64>(),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds.saturating_sub(15).max(1))).await;
    let wall = started.elapsed().as_secs_f64();
    let hark_cpu = cpu_seconds(&pid.to_string()) - hark_before;
    let base_cpu = pipeline
        .iter()
        .map(|p| cpu_seconds(&p.to_string()))
        .sum::<f64>()
        - base_before;
    let peak_kib = status_kib(&pid.to_string(), "VmHWM");
    let base_kib: u64 = pipeline
        .iter()
        .map(|p| status_kib(&p.to_string(), "VmRSS"))
        .sum();
    let output = tokio::task::spawn_blocking(move || recorder.wait_with_output()).await??;
    let _ = Command::new("pkill")
        .args(["-P", &baseline.id().to_string()])
        .status();
    let mut baseline = baseline;
    let _ = baseline.wait();
    drop(looping);
    anyhow::ensure!(
        output.status.success(),
        "hark record failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let segments = String::from_utf8_lossy(&output.stdout).lines().count();

    println!(
        "record: `hark record` (release) for {seconds} s from the virtual microphone, live transcript through the --dev proxy and the emulator"
    );
    println!(
        "  hark record: CPU {hark_cpu:.2} s over {wall:.0} s = {:.2} % of one core; peak RSS {:.1} MiB; {segments} transcript segments",
        100.0 * hark_cpu / wall,
        peak_kib as f64 / 1024.0
    );
    println!(
        "  baseline parec | opusenc on the same microphone: {:.2} % of one core, RSS {:.1} MiB",
        100.0 * base_cpu / wall,
        base_kib as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
