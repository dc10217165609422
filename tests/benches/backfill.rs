//! Benchmark: back-filling a recording the live transcript missed from start to end
//! (`HARK_BENCH_SECONDS`, default 600 s of the looped interview) through the proxy and the
//! emulator served in-process: wall time, CPU, segments, and the peak memory the pass adds,
//! beside decoding the whole gap at once (how a gap was first read). Checks that the transcript
//! found is the interview's, utterance for utterance. The proxy's per-user rate limit is raised
//! for the run (its default, 30 a minute, would make this a benchmark of the limit).

use std::path::Path;
use std::time::Instant;

use hark_audio::FRAME_SAMPLES;
use hark_audio::encoder::Encoder;
use hark_audio::recording::RecordingWriter;
use hark_recorder::config::Layer;
use hark_recorder::{Config, Recorder, Token};
use hark_store::{NewSession, Segment, SessionState};
use hark_tests::bench::{interview_minute, seconds};
use hark_tests::emulator::{Emulator, EmulatorConfig};

/// A field of `/proc/self/status`, in KiB.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with(key))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak resident size to the current one (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's CPU time so far, seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// Writes `seconds` of the looped interview as a one-source recording; returns what it says.
fn write_recording(path: &Path, seconds: u64) -> anyhow::Result<Vec<String>> {
    let minute = interview_minute();
    let mut samples = minute.samples().to_vec();
    samples.resize(samples.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0.0);
    let minutes = (seconds as usize * 48_000).div_ceil(samples.len());
    let mut writer = RecordingWriter::create(path, &["microphone"])?;
    let mut encoder = Encoder::new(24_000, 0)?;
    let mut said = Vec::new();
    for _ in 0..minutes {
        for frame in samples.chunks_exact(FRAME_SAMPLES) {
            let frame: &[f32; FRAME_SAMPLES] = frame.try_into()?;
            writer.write(0, &encoder.encode(frame)?)?;
        }
        said.extend(minute.expected_transcripts().iter().cloned());
    }
    writer.finish()?;
    Ok(said)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = seconds();
    let dir = std::env::temp_dir().join(format!("hark-bench-backfill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data/recordings"))?;
    let file = dir.join("data/recordings/offline.ogg");
    let said = write_recording(&file, seconds)?;
    let track_seconds = hark_audio::recording::read(&file)?[0].seconds();

    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let proxy = hark_tests::serve::proxy(
        &emulator,
        None,
        &[("RATE_LIMIT_PER_USER_PER_MINUTE", "1000000".into())],
    )
    .await;
    let flags = Layer {
        proxy_url: Some(proxy),
        data_dir: Some(dir.join("data")),
        ..Layer::default()
    };
    let config = Config::load_with(Some(&dir.join("none.toml")), flags, |_| None)?;
    let recorder = Recorder::open(config)?;
    let path = file.display().to_string();
    let end_ms = (track_seconds * 1000.0) as i64;
    recorder
        .store()
        .call(move |store| {
            let interview = store.create_interview("Offline all along", None)?;
            let session = store.start_session(&NewSession {
                interview_id: interview.id,
                sources: vec!["microphone".into()],
                recording_path: Some(path),
                ..NewSession::default()
            })?;
            store.save_segment(&Segment::gap(session.id, "microphone", 0, end_ms))?;
            store.finish_session(session.id, end_ms as f64 / 1000.0, SessionState::Completed)
        })
        .await?;

    // Back-fill.
    reset_peak();
    let rss_before = status_kib("VmRSS:");
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    let filled = recorder.fill_gaps(&Token::None, &|| true).await?;
    let (wall, cpu) = (started.elapsed(), cpu_seconds() - cpu_before);
    let backfill_peak = status_kib("VmHWM:").saturating_sub(rss_before);
    let texts: Vec<String> = filled.segments.iter().map(|s| s.text.clone()).collect();
    anyhow::ensure!(
        filled.gaps == 1 && filled.stopped.is_none(),
        "the pass did not finish: {filled:?}"
    );
    anyhow::ensure!(
        texts == said,
        "the transcript differs: {} segments, {} utterances said",
        texts.len(),
        said.len()
    );

    // Baseline: the whole gap decoded at once.
    reset_peak();
    let rss_before = status_kib("VmRSS:");
    let started = Instant::now();
    let tracks = hark_audio::recording::read(&file)?;
    let whole = tracks[0].decode(Some((0.0, track_seconds)))?;
    let decode_wall = started.elapsed();
    let whole_peak = status_kib("VmHWM:").saturating_sub(rss_before);
    drop(whole);

    println!(
        "backfill: {track_seconds:.0} s missed by the live transcript, {} utterances, back-filled through the in-process proxy and emulator",
        said.len()
    );
    println!(
        "  back-fill: {:.1} s wall, {cpu:.1} s CPU (this process: emulator and proxy included), {} segments, peak +{:.1} MiB",
        wall.as_secs_f64(),
        filled.segments.len(),
        backfill_peak as f64 / 1024.0
    );
    println!(
        "  baseline, the whole gap decoded at once: {:.1} s, peak +{:.1} MiB",
        decode_wall.as_secs_f64(),
        whole_peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
