//! Benchmark: `hark record` (the release binary) for ten minutes (`HARK_BENCH_SECONDS`) from a
//! virtual microphone playing a DTMF interview script in a loop, through the `--dev` proxy to the
//! emulator with a live transcript; CPU and peak memory of the process, beside `parec | opusenc`
//! recording the same microphone in the same run. Two microphones, one after the other:
//! - *shared*: the test stack's, kept awake by a 10 ms keepalive, so the sound server delivers
//!   every few milliseconds, as when a call app asking for low latency records the same mic;
//! - *alone*: one of the benchmark's own with a relaxed keepalive, so the server paces it by
//!   what its recorders ask for, as a real microphone when only Hark records it.
//!
//! Run inside the test stack: `cargo build --release -p hark-recorder`, `cargo xtask stack`,
//! export what it prints, then `cargo bench -p hark-tests --bench record`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../crates/audio/tests/support/mod.rs"]
mod audio_support;

use audio_support::{VirtualMic, cpu_seconds, status_kib};
use hark_tests::audio_files::wav_bytes;
use hark_tests::bench::{Looping, comm, interview_minute, process_tree, release_binary};
use hark_tests::emulator::{Emulator, EmulatorConfig};

/// Context switches so far of the threads whose name starts with `thread` (each wake-up is one).
fn switches(pid: u32, thread: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            comm(&format!(
                "{pid}/task/{}",
                task.file_name().to_string_lossy()
            ))
            .starts_with(thread)
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

struct Figures {
    hark_percent: f64,
    hark_peak_mib: f64,
    worker_wakes: f64,
    segments: usize,
    baseline_percent: f64,
    baseline_mib: f64,
}

/// Records `mic` (fed through the sink `feed`) with `hark record` and the baseline side by side.
async fn measure(
    hark: &Path,
    proxy: &str,
    dir: &Path,
    mic: &str,
    feed: &str,
    seconds: u64,
) -> anyhow::Result<Figures> {
    // About a minute of interview, looped while recording.
    let wav = dir.join("interview.wav");
    std::fs::write(&wav, wav_bytes(interview_minute().samples(), 48_000, 1))?;
    let looping = Looping::start(feed, &wav);

    let data = dir.join(format!("data-{mic}"));
    let recorder = Command::new(hark)
        .args(["record", "--interview", "Benchmark interview", "--duration"])
        .arg(seconds.to_string())
        .arg("--mic")
        .arg(format!("pulseaudio:{mic}"))
        .arg("--proxy-url")
        .arg(proxy)
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
    // The pipeline's processes: the shell's children.
    let pipeline: Vec<u32> = process_tree(baseline.id()).into_iter().skip(1).collect();
    let pipeline_cpu = || {
        pipeline
            .iter()
            .map(|p| cpu_seconds(&p.to_string()))
            .sum::<f64>()
    };
    let (hark_before, base_before) = (cpu_seconds(&pid.to_string()), pipeline_cpu());
    let wakes_before = switches(pid, "hark-audio-mic");
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds.saturating_sub(15).max(1))).await;
    let wall = started.elapsed().as_secs_f64();
    let hark_cpu = cpu_seconds(&pid.to_string()) - hark_before;
    let base_cpu = pipeline_cpu() - base_before;
    let wakes = switches(pid, "hark-audio-mic") - wakes_before;
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
    Ok(Figures {
        hark_percent: 100.0 * hark_cpu / wall,
        hark_peak_mib: peak_kib as f64 / 1024.0,
        worker_wakes: wakes as f64 / wall,
        segments: String::from_utf8_lossy(&output.stdout).lines().count(),
        baseline_percent: 100.0 * base_cpu / wall,
        baseline_mib: base_kib as f64 / 1024.0,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = hark_tests::bench::seconds();
    let (shared_mic, shared_feed) = hark_tests::bench::stack_microphone()?;
    let hark = release_binary("hark", "hark-recorder");
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let proxy = hark_tests::serve::proxy(&emulator, None, &[]).await;
    let dir = std::env::temp_dir().join(format!("hark-bench-record-{}", std::process::id()));
    // An earlier run whose process had the same id left its sessions here.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    let shared = measure(&hark, &proxy, &dir, &shared_mic, &shared_feed, seconds).await?;
    let alone = {
        let mic = VirtualMic::with_keepalive("hark_bench_alone_mic", 48_000, 1, 200);
        measure(
            &hark,
            &proxy,
            &dir,
            &mic.name,
            &format!("{}_feed", mic.name),
            seconds,
        )
        .await?
    };

    println!(
        "record: `hark record` (release) for {seconds} s per microphone, live transcript through the --dev proxy and the emulator, beside parec | opusenc on the same microphone"
    );
    for (what, f) in [
        ("shared (10 ms keepalive)", &shared),
        ("alone (200 ms keepalive)", &alone),
    ] {
        println!(
            "  {what}: hark record {:.2} % of one core, peak RSS {:.1} MiB, {} transcript segments, capture worker woken {:.0}/s; baseline {:.2} %, RSS {:.1} MiB",
            f.hark_percent,
            f.hark_peak_mib,
            f.segments,
            f.worker_wakes,
            f.baseline_percent,
            f.baseline_mib
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
