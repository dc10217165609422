//! Benchmark: one call of `--seconds` (default 60) against the `realtime-emulator` binary in its
//! own process. Reports offer → first `.completed`, and the emulator's CPU time and peak memory
//! from `/proc` (Linux).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hark_tests::caller::{CallForm, Caller};
use hark_tests::dtmf::Script;
use hark_wire::realtime::{ServerEvent, SessionConfig};

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|line| line.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u32 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut child = Command::new(env!("CARGO_BIN_EXE_realtime-emulator"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let base_url = lines
        .next()
        .transpose()?
        .and_then(|line| line.split("base URL ").nth(1).map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("emulator printed no base URL"))?;
    let idle_rss_kib = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
    let cpu_before = cpu_seconds(pid);

    let session: SessionConfig = serde_json::from_str(
        r#"{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"},
            "turn_detection":{"type":"server_vad","silence_duration_ms":500}}}}"#,
    )?;
    let dialled = Instant::now();
    let mut caller = Caller::dial(
        &base_url,
        CallForm::Multipart {
            api_key: "sk-test".into(),
            session: Some(Box::new(session)),
        },
    )
    .await?;
    let answered = dialled.elapsed();
    // Utterances of 4 digits with 1 s pauses: about 2 s each.
    let mut script = Script::new().pause(200);
    let utterances = ["1 2 3 4", "5 6 7 8", "9 0 * #", "4 4 1 7"];
    let mut n = 0;
    while script.samples().len() < seconds as usize * 48_000 {
        script = script.say(utterances[n % utterances.len()]).pause(1000);
        n += 1;
    }
    caller
        .wait_for(Duration::from_secs(10), |e| {
            matches!(e, ServerEvent::SessionCreated(_))
        })
        .await?;
    let session_created = dialled.elapsed();
    // Play the first utterance up to the end of the VAD's silence window, then time the answer.
    let first_len = 48 * (200 + 4 * 120 + 3 * 80 + 500 + 20);
    caller.play(&script.samples()[..first_len]).await?;
    let audio_sent = Instant::now();
    caller
        .wait_for(Duration::from_secs(10), |e| {
            matches!(e, ServerEvent::TranscriptionCompleted(_))
        })
        .await?;
    let first_completed = dialled.elapsed();
    let completed_after_audio = audio_sent.elapsed();
    caller.play(&script.samples()[first_len..]).await?;
    while caller.transcripts().len() < n {
        caller
            .wait_for(Duration::from_secs(10), |e| {
                matches!(e, ServerEvent::TranscriptionCompleted(_))
            })
            .await?;
    }
    let call_wall = dialled.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    let peak_rss_kib = proc_field(pid, "status", "VmHWM:").unwrap_or(0);
    let correct = caller
        .transcripts()
        .iter()
        .zip(script.expected_transcripts())
        .filter(|(got, want)| got == want)
        .count();
    caller.close().await;
    child.kill()?;
    let _ = child.wait();

    println!("emulator_call: one {seconds}-second call, {n} utterances");
    println!(
        "  offer -> answer (HTTP 201):          {:>8.1} ms",
        answered.as_secs_f64() * 1e3
    );
    println!(
        "  offer -> session.created:            {:>8.1} ms",
        session_created.as_secs_f64() * 1e3
    );
    println!(
        "  offer -> first .completed:           {:>8.1} ms (its audio, VAD silence included, lasts {} ms)",
        first_completed.as_secs_f64() * 1e3,
        first_len / 48
    );
    println!(
        "  last packet of it -> .completed:     {:>8.1} ms",
        completed_after_audio.as_secs_f64() * 1e3
    );
    println!("  transcripts exact:                   {correct}/{n}");
    println!(
        "  emulator CPU over the call:          {:>8.2} s = {:.2} % of one core",
        cpu,
        100.0 * cpu / call_wall.as_secs_f64()
    );
    println!(
        "  emulator RSS idle / peak (VmHWM):    {:>8.1} MiB / {:.1} MiB",
        idle_rss_kib as f64 / 1024.0,
        peak_rss_kib as f64 / 1024.0
    );
    if correct != n {
        anyhow::bail!("{} of {n} transcripts were wrong", n - correct);
    }
    Ok(())
}
