//! Capture through the real path: known audio played into PulseAudio virtual devices, captured
//! by cpal through the engine, compared with the source; the watchdog's events when a device
//! goes quiet or away; and a recorder killed with SIGKILL whose file is then recovered.
//! Needs the virtual microphone from `cargo xtask test` (or `cargo xtask stack`).

mod support;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hark_audio::engine::{EngineConfig, Event, Frame, Output, SourceSpec, SwitchReason, Warning};
use hark_audio::{DeviceChoice, Engine, SourceKind};
use support::{VirtualMic, pulse_server, reference, scratch, test_audio, tool};

/// Collects frames and events from the engine.
#[derive(Default)]
struct Collector {
    frames: Mutex<Vec<Vec<f32>>>,
    filled: Mutex<Vec<u64>>,
    events: Mutex<Vec<(Instant, Event)>>,
}

impl Output for Collector {
    fn frame(&self, frame: &Frame<'_>) {
        let mut frames = self.frames.lock().unwrap();
        while frames.len() <= frame.source {
            frames.push(Vec::new());
        }
        frames[frame.source].extend_from_slice(frame.pcm);
        if frame.filled {
            self.filled.lock().unwrap().push(frame.index);
        }
    }

    fn event(&self, event: Event) {
        self.events.lock().unwrap().push((Instant::now(), event));
    }
}

impl Collector {
    fn samples(&self, source: usize) -> Vec<f32> {
        self.frames
            .lock()
            .unwrap()
            .get(source)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for an event matching `pred`; panics with every event seen after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Event) -> bool) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((at, _)) = self.events.lock().unwrap().iter().find(|(_, e)| pred(e)) {
                return *at;
            }
            if Instant::now() > deadline {
                let seen: Vec<_> = self
                    .events
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, e)| !matches!(e, Event::Level { .. }))
                    .map(|(_, e)| format!("{e:?}"))
                    .collect();
                panic!("no {what} within {timeout:?}; events: {seen:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Where `needle` starts in `haystack` (best normalised correlation over half a second from
/// the needle's onset, searched ±20 ms around the onsets' offset) and the correlation over the
/// whole needle there.
fn align(haystack: &[f32], needle: &[f32]) -> (usize, f64) {
    let guess = onset(haystack) as i64 - onset(needle) as i64;
    align_near(haystack, needle, guess)
}

/// The first sample above -34 dBFS.
fn onset(x: &[f32]) -> usize {
    x.iter().position(|s| s.abs() > 0.02).unwrap_or(0)
}

/// [`align`] searching within 20 ms of `guess`.
fn align_near(haystack: &[f32], needle: &[f32], guess: i64) -> (usize, f64) {
    let start = onset(needle);
    let window = &needle[start..(start + 24_000).min(needle.len())];
    let mut best = (0usize, f64::MIN);
    for lag in (guess - 960).max(0)..=(guess + 960).max(0) {
        let lag = lag as usize;
        if lag + needle.len() > haystack.len() {
            break;
        }
        let c = correlation(&haystack[lag + start..lag + start + window.len()], window);
        if c > best.1 {
            best = (lag, c);
        }
    }
    let lag = best.0;
    let end = (lag + needle.len()).min(haystack.len());
    (lag, correlation(&haystack[lag..end], needle))
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += f64::from(x) * f64::from(y);
        aa += f64::from(x) * f64::from(x);
        bb += f64::from(y) * f64::from(y);
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-12)
}

/// Samples between the first and last above -40 dBFS.
fn active_span(x: &[f32]) -> usize {
    let first = x.iter().position(|s| s.abs() > 0.01).unwrap_or(0);
    let last = x.iter().rposition(|s| s.abs() > 0.01).unwrap_or(0);
    last.saturating_sub(first)
}

fn mic_source(id: String) -> SourceSpec {
    SourceSpec {
        label: "microphone".into(),
        kind: SourceKind::Microphone,
        device: DeviceChoice::Id(id),
    }
}

/// Plays the test audio into a virtual mic of the given format and checks what the engine
/// captured against the source.
fn capture_matches_source(rate: u32, channels: u16) {
    let dir = scratch(&format!("match-{rate}-{channels}"));
    let mic = VirtualMic::new(&format!("hark_test_{rate}_{channels}"), rate, channels);
    let wav = test_audio(&dir, rate, channels);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    let engine = Engine::start(config, collector.clone()).expect("engine starts");
    collector.wait_for("opened", Duration::from_secs(5), |e| {
        matches!(e, Event::Opened { rate: r, channels: c, .. } if *r == mic.rate && *c == mic.channels)
    });
    std::thread::sleep(Duration::from_millis(300));
    mic.play(&wav);
    std::thread::sleep(Duration::from_millis(400));
    let stats = engine.stop().expect("engine stops");

    let captured = collector.samples(0);
    let source = reference(&wav);
    let (lag, corr) = align(&captured, &source);
    assert!(
        corr >= 0.99,
        "{rate} Hz × {channels}: correlation {corr:.4} (lag {lag})"
    );
    let span_diff = active_span(&captured).abs_diff(active_span(&source));
    assert!(
        span_diff <= hark_audio::FRAME_SAMPLES,
        "{rate} Hz × {channels}: captured span differs from the source by {span_diff} samples"
    );
    if rate == 48_000 && channels == 1 {
        // Nothing in the path changes a sample: 16-bit in, the same 16-bit values out.
        let window = &captured[lag..lag + source.len()];
        let worst = window
            .iter()
            .zip(&source)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-6,
            "48 kHz mono is not sample-exact: off by {worst}"
        );
    }
    assert_eq!(stats[0].dropped_samples, 0, "{stats:?}");

    // The recording file holds the same audio (through Opus, so by correlation).
    let tracks = hark_audio::recording::read(&dir.join("recording.ogg")).unwrap();
    assert_eq!(tracks[0].source, "microphone");
    let decoded = tracks[0].decode(None).unwrap();
    // The file keeps the frames' timeline, so the captured lag is where to look: Opus can put a
    // little energy ahead of the onset, which would throw a guess from the decoded onset off.
    let (_, file_corr) = align_near(&decoded, &source, lag as i64);
    assert!(
        file_corr >= 0.9,
        "recording file correlation {file_corr:.3}"
    );
    assert!(
        (decoded.len() as i64 - captured.len() as i64).abs() <= hark_audio::FRAME_SAMPLES as i64,
        "file has {} samples, frames had {}",
        decoded.len(),
        captured.len()
    );
}

#[test]
fn captures_a_48k_mono_microphone_sample_exactly() {
    capture_matches_source(48_000, 1);
}

#[test]
fn captures_a_48k_stereo_microphone() {
    capture_matches_source(48_000, 2);
}

#[test]
fn captures_a_44k1_mono_microphone() {
    capture_matches_source(44_100, 1);
}

#[test]
fn captures_a_44k1_stereo_microphone() {
    capture_matches_source(44_100, 2);
}

#[test]
fn captures_an_8_channel_source() {
    // Past the 6 channels of the sound server's default layout: the source's own layout is used.
    capture_matches_source(48_000, 8);
}

#[test]
fn lists_the_virtual_devices_with_their_formats() {
    let mic = VirtualMic::new("hark_test_list", 44_100, 2);
    let devices = hark_audio::list_devices().expect("devices list");
    let found = devices
        .iter()
        .find(|d| d.id == mic.id())
        .unwrap_or_else(|| panic!("{} not in {devices:#?}", mic.id()));
    assert_eq!(found.kind, SourceKind::Microphone);
    let format = found.default_format.as_ref().unwrap();
    assert_eq!((format.max_rate, format.channels), (44_100, 2));
    let monitor = format!("pulseaudio:{}_feed.monitor", mic.name);
    assert!(
        devices
            .iter()
            .any(|d| d.id == monitor && d.kind == SourceKind::System),
        "the feed's monitor is a system-audio source"
    );
    // One default per kind (another test may move the default microphone meanwhile).
    for kind in [SourceKind::Microphone, SourceKind::System] {
        let defaults = devices
            .iter()
            .filter(|d| d.kind == kind && d.is_default)
            .count();
        assert_eq!(defaults, 1, "{kind:?} defaults in {devices:#?}");
    }
}

#[test]
fn records_system_audio_as_a_separate_labelled_source() {
    let dir = scratch("system");
    let mic = VirtualMic::new("hark_test_sys_mic", 48_000, 1);
    let speakers = VirtualMic::new("hark_test_speakers", 48_000, 2);
    let wav = test_audio(&dir, 48_000, 2);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(
        vec![
            mic_source(mic.id()),
            SourceSpec {
                label: "system".into(),
                kind: SourceKind::System,
                device: DeviceChoice::Id(format!("pulseaudio:{}_feed.monitor", speakers.name)),
            },
        ],
        dir.join("recording.ogg"),
    );
    let engine = Engine::start(config, collector.clone()).expect("engine starts");
    std::thread::sleep(Duration::from_millis(300));
    // The "candidate" speaks through the speakers only.
    speakers.play(&wav);
    std::thread::sleep(Duration::from_millis(300));
    engine.stop().unwrap();

    let source = reference(&wav);
    let (_, system_corr) = align(&collector.samples(1), &source);
    assert!(
        system_corr >= 0.99,
        "system source correlation {system_corr:.4}"
    );
    let mic_peak = collector
        .samples(0)
        .iter()
        .fold(0.0f32, |m, s| m.max(s.abs()));
    assert_eq!(
        mic_peak, 0.0,
        "the microphone heard nothing of the speakers"
    );
    let tracks = hark_audio::recording::read(&dir.join("recording.ogg")).unwrap();
    let labels: Vec<&str> = tracks.iter().map(|t| t.source.as_str()).collect();
    assert_eq!(labels, ["microphone", "system"]);
}

#[test]
fn warns_on_digital_silence_and_clears_when_sound_returns() {
    let dir = scratch("silence");
    let mic = VirtualMic::new("hark_test_silence", 48_000, 1);
    let wav = test_audio(&dir, 48_000, 1);
    let collector = Arc::new(Collector::default());
    let mut config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    config.silence_after = Duration::from_secs(1);
    let engine = Engine::start(config, collector.clone()).unwrap();
    collector.wait_for("a silence warning", Duration::from_secs(5), |e| {
        matches!(e, Event::Warning { warning: Warning::Silence { seconds }, .. } if *seconds >= 1.0)
    });
    mic.play(&wav);
    collector.wait_for("the silence warning cleared", Duration::from_secs(5), |e| {
        matches!(e, Event::Cleared { .. })
    });
    // Levels arrive every 50 ms and show the speech.
    let loud = collector
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| matches!(e, Event::Level { peak_dbfs, .. } if *peak_dbfs > -20.0))
        .count();
    assert!(loud > 10, "only {loud} loud level readings");
    engine.stop().unwrap();
}

#[test]
fn falls_back_when_the_device_is_unplugged_and_returns_when_it_is_back() {
    let dir = scratch("unplug");
    let mut mic = VirtualMic::new("hark_test_unplug", 48_000, 1);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    let engine = Engine::start(config, collector.clone()).unwrap();
    let started = collector.wait_for("opened", Duration::from_secs(5), |e| {
        matches!(e, Event::Opened { .. })
    });
    std::thread::sleep(Duration::from_millis(500));

    mic.unplug();
    collector.wait_for("the device lost", Duration::from_secs(6), |e| {
        matches!(
            e,
            Event::Warning {
                warning: Warning::DeviceLost { .. } | Warning::NoCallbacks { .. },
                ..
            }
        )
    });
    collector.wait_for("a fallback to the default", Duration::from_secs(6), |e| {
        matches!(
            e,
            Event::Switched {
                reason: SwitchReason::Fallback,
                ..
            }
        )
    });

    mic.plug();
    collector.wait_for("the device restored", Duration::from_secs(6), |e| {
        matches!(
            e,
            Event::Switched {
                reason: SwitchReason::Restored,
                ..
            }
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let elapsed = started.elapsed();
    let stats = engine.stop().unwrap();
    // The timeline kept wall time across the switches: no hole, no pile-up.
    let seconds = stats[0].frames as f64 * 0.02;
    assert!(
        (seconds - elapsed.as_secs_f64()).abs() < 0.3,
        "{seconds:.2} s of frames over {:.2} s",
        elapsed.as_secs_f64()
    );
    assert!(stats[0].opens >= 3, "{stats:?}");
}

#[test]
fn reports_no_callbacks_when_the_sound_server_stops_delivering() {
    // Suspending the source stops its callbacks without any error from the stream.
    let dir = scratch("stall");
    let mic = VirtualMic::new("hark_test_stall", 48_000, 1);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    let engine = Engine::start(config, collector.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    tool("pactl", &["suspend-source", &mic.name, "1"]);
    let warned = collector.wait_for("a no-callbacks warning", Duration::from_secs(6), |e| {
        matches!(
            e,
            Event::Warning {
                warning: Warning::NoCallbacks { .. },
                ..
            }
        )
    });
    tool("pactl", &["suspend-source", &mic.name, "0"]);
    let cleared = collector.wait_for("callbacks again", Duration::from_secs(6), |e| {
        matches!(e, Event::Cleared { .. })
    });
    assert!(cleared > warned);
    let stats = engine.stop().unwrap();
    assert!(stats[0].filled_frames > 0, "the gap was filled: {stats:?}");
}

#[test]
fn a_missing_device_is_a_clear_error_only_when_there_is_no_default_either() {
    // A chosen device that is not there falls back to the default, saying so.
    let dir = scratch("missing");
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(
        vec![mic_source("pulseaudio:no_such_microphone".into())],
        dir.join("recording.ogg"),
    );
    let engine = Engine::start(config, collector.clone()).unwrap();
    collector.wait_for("a fallback", Duration::from_secs(2), |e| {
        matches!(e, Event::Switched { reason: SwitchReason::Fallback, from, .. } if from == "pulseaudio:no_such_microphone")
    });
    engine.stop().unwrap();

    // With no sound server at all, the error names the problem and the fix.
    std::fs::write(dir.join("no-alsa.conf"), "").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hark-capture"))
        .args([
            "record",
            dir.join("none.ogg").to_str().unwrap(),
            "--seconds",
            "0",
        ])
        .env("PULSE_SERVER", "unix:/nonexistent/pulse/native")
        .env("XDG_RUNTIME_DIR", "/nonexistent")
        .env("ALSA_CONFIG_PATH", dir.join("no-alsa.conf"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no microphone found") || stderr.contains("sound server"),
        "{stderr}"
    );
}

#[test]
fn a_recorder_killed_with_sigkill_loses_at_most_a_second() {
    let dir = scratch("sigkill");
    let mic = VirtualMic::new("hark_test_kill", 48_000, 1);
    let wav = test_audio(&dir, 48_000, 1);
    let file = dir.join("recording.ogg");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hark-capture"))
        .args(["record", file.to_str().unwrap(), "--mic", &mic.id()])
        .env("PULSE_SERVER", pulse_server())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let started = loop {
        let line = lines.next().expect("the recorder printed").unwrap();
        if line.contains("\"recording\"") {
            break Instant::now();
        }
    };
    mic.play(&wav);
    std::thread::sleep(Duration::from_millis(700));
    let recorded_for = started.elapsed().as_secs_f64();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let recovery = hark_audio::recording::recover(&file).expect("the file recovers");
    assert!(recovery.was_unfinished);
    let (source, seconds) = &recovery.tracks[0];
    assert_eq!(source, "microphone");
    assert!(
        *seconds >= recorded_for - 1.0 && *seconds <= recorded_for + 0.1,
        "recovered {seconds:.2} s of {recorded_for:.2} s"
    );
    // The recovered file is a finished, readable recording holding the speech.
    let tracks = hark_audio::recording::read(&file).unwrap();
    assert!(tracks[0].finished);
    let (_, corr) = align(&tracks[0].decode(None).unwrap(), &reference(&wav)[..48_000]);
    assert!(corr >= 0.9, "recovered audio correlation {corr:.3}");
}

#[test]
fn follows_the_default_microphone_when_it_changes() {
    let dir = scratch("default");
    let first = VirtualMic::new("hark_test_default_a", 48_000, 1);
    let second = VirtualMic::new("hark_test_default_b", 48_000, 1);
    tool("pactl", &["set-default-source", &first.name]);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(
        vec![SourceSpec {
            label: "microphone".into(),
            kind: SourceKind::Microphone,
            device: DeviceChoice::Default,
        }],
        dir.join("recording.ogg"),
    );
    let engine = Engine::start(config, collector.clone());
    tool("pactl", &["set-default-source", &second.name]);
    let switched = engine.is_ok().then(|| {
        collector.wait_for("a switch to the new default", Duration::from_secs(5), |e| {
            matches!(
                e,
                Event::Switched {
                    reason: SwitchReason::DefaultChanged,
                    ..
                }
            )
        })
    });
    let default_mic = std::env::var("HARK_TEST_VIRTUAL_MIC").unwrap();
    tool("pactl", &["set-default-source", &default_mic]);
    let engine = engine.expect("engine starts");
    assert!(switched.is_some());
    let opened: Vec<String> = collector
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Opened { device, .. } => Some(device.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(opened, [first.id(), second.id()]);
    engine.stop().unwrap();
}

/// An owner that stalls on the first frame, as a wedged consumer would.
struct Stalling {
    inner: Collector,
    stalled: std::sync::atomic::AtomicBool,
}

impl Output for Stalling {
    fn frame(&self, frame: &Frame<'_>) {
        if !self.stalled.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(3));
        }
        self.inner.frame(frame);
    }

    fn event(&self, event: Event) {
        self.inner.event(event);
    }
}

#[test]
fn a_stalled_worker_overflows_the_ring_and_says_so() {
    let dir = scratch("overflow");
    let mic = VirtualMic::new("hark_test_overflow", 48_000, 1);
    let output = Arc::new(Stalling {
        inner: Collector::default(),
        stalled: Default::default(),
    });
    let config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    let engine = Engine::start(config, output.clone()).unwrap();
    output
        .inner
        .wait_for("an overflow warning", Duration::from_secs(8), |e| {
            matches!(e, Event::Warning { warning: Warning::Overflow { dropped_samples }, .. } if *dropped_samples > 0)
        });
    let stats = engine.stop().unwrap();
    // The ring holds 2 s; a 3 s stall loses about the last second, and the count says so.
    assert!(
        (24_000..=72_000).contains(&stats[0].dropped_samples),
        "{stats:?}"
    );
}

#[test]
fn pausing_keeps_the_device_open_and_the_paused_time_out_of_the_recording() {
    let dir = scratch("pause");
    let mic = VirtualMic::new("hark_test_pause", 48_000, 1);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    let engine = Engine::start(config, collector.clone()).unwrap();
    let opened = collector.wait_for("opened", Duration::from_secs(5), |e| {
        matches!(e, Event::Opened { .. })
    });
    std::thread::sleep(Duration::from_millis(700));
    engine.set_paused(true);
    assert!(engine.is_paused());
    std::thread::sleep(Duration::from_millis(1_500));
    engine.set_paused(false);
    std::thread::sleep(Duration::from_millis(700));
    let recorded_for = opened.elapsed().as_secs_f64() - 1.5;
    let stats = engine.stop().unwrap();
    let seconds = stats[0].frames as f64 * 0.02;
    assert!(
        (seconds - recorded_for).abs() < 0.2,
        "{seconds:.2} s recorded for {recorded_for:.2} s unpaused: {stats:?}"
    );
    assert_eq!(stats[0].filled_frames, 0, "{stats:?}");
    assert_eq!(stats[0].opens, 1, "the device stayed open");
    let tracks = hark_audio::recording::read(&dir.join("recording.ogg")).unwrap();
    assert!((tracks[0].seconds() - seconds).abs() < 0.05);
}

#[test]
fn stop_keeps_the_audio_the_sound_server_still_held() {
    // A microphone only Hark records: the sound server hands its audio over a fragment (about
    // 80-100 ms) at a time, so at stop it still holds what was said since the last hand-over.
    let dir = scratch("stop-tail");
    let mic = VirtualMic::with_keepalive("hark_test_stop_tail", 48_000, 1, 200);
    let collector = Arc::new(Collector::default());
    let config = EngineConfig::new(vec![mic_source(mic.id())], dir.join("recording.ogg"));
    let engine = Engine::start(config, collector.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(1_000));
    // Stop between two hand-overs (levels are computed as each one arrives).
    let levels = || {
        collector
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| matches!(e, Event::Level { .. }))
            .count()
    };
    let seen = levels();
    let deadline = Instant::now() + Duration::from_secs(2);
    while levels() == seen && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(levels() > seen, "no audio arrived within 2 s");
    std::thread::sleep(Duration::from_millis(40));
    let frames_at_stop = collector.samples(0).len() / hark_audio::FRAME_SAMPLES;
    let stats = engine.stop().unwrap();
    // Without waiting for the held fragment, stop adds at most the padded partial frame.
    let tail = stats[0].frames - frames_at_stop as u64;
    assert!(
        tail >= 3,
        "stop added {tail} frames to the {frames_at_stop} recorded: the audio the sound server \
         held was lost ({stats:?})"
    );
    assert!(
        tail <= 9,
        "stop waited {tail} frames: longer than a fragment"
    );
    assert_eq!(stats[0].filled_frames, 0, "{stats:?}");
}

#[test]
fn a_recording_file_that_cannot_grow_is_said_once_and_capture_goes_on() {
    let dir = scratch("full");
    let mic = VirtualMic::new("hark_test_full", 48_000, 1);
    let wav = test_audio(&dir, 48_000, 1);
    let file = dir.join("recording.ogg");
    // The file may not grow past 4 KiB: the writes after fail as on a full disk (`ulimit -f`;
    // the signal the system sends then is ignored, so the write fails with an error instead).
    let script = format!(
        "trap '' XFSZ; ulimit -f 4; exec '{}' record '{}' --mic '{}' --seconds 6 --levels",
        env!("CARGO_BIN_EXE_hark-capture"),
        file.display(),
        mic.id()
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .env("PULSE_SERVER", pulse_server())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufRead::lines(std::io::BufReader::new(stdout))
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(500));
    mic.play(&wav);
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let failed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("\"write_failed\""))
        .collect();
    assert_eq!(failed.len(), 1, "said once: {lines:?}");
    assert!(
        lines[failed[0]].contains("recording.ogg"),
        "names the file: {}",
        lines[failed[0]]
    );
    let levels_after = lines[failed[0]..]
        .iter()
        .filter(|l| l.contains("\"type\":\"level\""))
        .count();
    assert!(
        levels_after >= 20,
        "capture went on after the failure ({levels_after} levels)"
    );
    // Stopping reports the failure; the file keeps what was saved before it.
    assert!(!status.success());
    let stderr = String::from_utf8(child.stderr.take().map_or_else(Vec::new, |mut e| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut buf).unwrap();
        buf
    }))
    .unwrap();
    assert!(stderr.contains("recording.ogg"), "{stderr}");
    let tracks = hark_audio::recording::read(&file).unwrap();
    assert!(tracks[0].seconds() > 0.0, "{} s kept", tracks[0].seconds());
}
