//! Benchmark: the processing half of recording (downmix, resample 44.1 → 48 kHz, 20 ms framing,
//! levels, Opus at 24 kbps, Ogg/Opus file synced every 0.5 s) on one minute of audio, beside
//! `opusenc` (opus-tools) encoding the same audio in the same run.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Instant;

use hark_audio::dsp::{Framer, LevelMeter, RateConverter, downmix_into};
use hark_audio::encoder::Encoder;
use hark_audio::recording::RecordingWriter;
use support::cpu_seconds;

const SECONDS: usize = 60;
const RATE: u32 = 44_100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Speech-like: a few harmonics with a slow envelope, plus a little noise; stereo.
    let mut seed = 0x9e37_79b9u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32 - 0.5) * 0.02
    };
    let n = RATE as usize * SECONDS;
    let mut stereo = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f32 / RATE as f32;
        let envelope = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 0.7 * t).sin();
        let voice = (1..6)
            .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32)
            .sum::<f32>();
        let sample = 0.2 * envelope * voice + noise();
        stereo.extend([sample, sample * 0.9]);
    }
    let dir = std::env::temp_dir().join(format!("hark-audio-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let started = Instant::now();
    let cpu_before = cpu_seconds("self");
    let mut mono = Vec::new();
    let mut at_48k = Vec::new();
    let mut converter = RateConverter::to_engine(RATE)?;
    let mut framer = Framer::default();
    let mut meter = LevelMeter::default();
    let mut encoder = Encoder::new(24_000, 0)?;
    let mut writer = RecordingWriter::create(&dir.join("bench.ogg"), &["microphone"])?;
    let mut n_levels = 0;
    // 10 ms callbacks, as a device would deliver them.
    for block in stereo.chunks(RATE as usize / 100 * 2) {
        mono.clear();
        at_48k.clear();
        downmix_into(block, 2, &mut mono);
        converter.process(&mono, &mut at_48k)?;
        meter.push(&at_48k, |_| n_levels += 1);
        let mut result = Ok(());
        framer.push(&at_48k, |frame| {
            if result.is_ok() {
                result = encoder
                    .encode(frame)
                    .and_then(|packet| writer.write(0, &packet));
            }
        });
        result?;
    }
    writer.finish()?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu_before;
    let file_bytes = std::fs::metadata(dir.join("bench.ogg"))?.len();

    // opusenc on the same audio (48 kHz mono WAV, so it does no resampling of its own).
    let wav = dir.join("same.wav");
    let mut wav_writer = hound::WavWriter::create(
        &wav,
        hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )?;
    let mut all = Vec::new();
    let mut converter = RateConverter::to_engine(RATE)?;
    let mut mono = Vec::new();
    downmix_into(&stereo, 2, &mut mono);
    converter.process(&mono, &mut all)?;
    for sample in &all {
        wav_writer.write_sample((sample * 32767.0) as i16)?;
    }
    wav_writer.finalize()?;
    let opusenc = Instant::now();
    let status = Command::new("opusenc")
        .args(["--quiet", "--bitrate", "24", "--speech"])
        .arg(&wav)
        .arg(dir.join("same.opus"))
        .status();
    let opusenc_seconds = opusenc.elapsed().as_secs_f64();

    println!(
        "pipeline: {SECONDS} s of 44.1 kHz stereo → mono 48 kHz → 20 ms frames → levels → Opus 24 kbps → Ogg file (synced every 0.5 s)"
    );
    println!(
        "  wall {:.3} s = {:.0}× real time; CPU {:.3} s = {:.3} % of one core while recording",
        elapsed,
        SECONDS as f64 / elapsed,
        cpu,
        100.0 * cpu / SECONDS as f64
    );
    println!(
        "  {} level readings, file {} KiB ({:.1} kbit/s)",
        n_levels,
        file_bytes / 1024,
        file_bytes as f64 * 8.0 / SECONDS as f64 / 1000.0
    );
    match status {
        Ok(s) if s.success() => println!(
            "  opusenc on the same minute (encode + write only): {:.3} s = {:.0}× real time",
            opusenc_seconds,
            SECONDS as f64 / opusenc_seconds
        ),
        _ => println!("  opusenc not available: install Debian's opus-tools to compare"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
