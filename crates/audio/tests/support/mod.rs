//! Shared by the capture tests and benchmark: PulseAudio virtual microphones of any format,
//! generated test audio (espeak-ng speech and DTMF-like tones) and its 48 kHz mono reference.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use hark_audio::dsp::{RateConverter, downmix_into};

pub fn pulse_server() -> String {
    std::env::var("PULSE_SERVER").unwrap_or_else(|_| {
        panic!("PULSE_SERVER is not set: the virtual microphone is not running. Run the tests with `cargo xtask test`, or start it with `cargo xtask stack` and export what it prints")
    })
}

pub fn tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .env("PULSE_SERVER", pulse_server())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The folder `name` of this run: the same for every call in this process, and new to it. A
/// later run never finds an earlier one's files there, even when its process gets the same id
/// (CI machines keep their `/tmp`: a recycled id once handed a first-run test an old config).
pub fn scratch(name: &str) -> PathBuf {
    static RUN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("hark-capture-")
            .tempdir()
            .expect("a scratch folder in the temporary directory")
            .keep()
    });
    let dir = run.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A virtual microphone of its own: a null sink (`<name>_feed`) at the given rate and channel
/// count, its monitor remapped into a source `<name>`, kept awake by a keepalive player.
pub struct VirtualMic {
    pub name: String,
    pub rate: u32,
    pub channels: u16,
    sink_module: String,
    source_module: Option<String>,
    keepalive: Child,
}

impl VirtualMic {
    /// Kept awake by a 10 ms keepalive: the sink renders every few milliseconds, so audio comes
    /// promptly (and as often as any app on a real microphone could ask).
    pub fn new(name: &str, rate: u32, channels: u16) -> VirtualMic {
        VirtualMic::with_keepalive(name, rate, channels, 10)
    }

    /// Kept awake by a keepalive that asks for `keepalive_ms` of latency: at a few hundred
    /// milliseconds the sound server paces the microphone by what its recorders ask for, as a
    /// real one is when only Hark records it.
    pub fn with_keepalive(name: &str, rate: u32, channels: u16, keepalive_ms: u32) -> VirtualMic {
        let sink_module = tool(
            "pactl",
            &[
                "load-module",
                "module-null-sink",
                &format!("sink_name={name}_feed"),
                &format!("rate={rate}"),
                &format!("channels={channels}"),
                "format=s16le",
            ],
        );
        let keepalive = Command::new("pacat")
            .env("PULSE_SERVER", pulse_server())
            .args(["--playback", "--format=s16le"])
            .arg(format!("--latency-msec={keepalive_ms}"))
            .arg(format!("--device={name}_feed"))
            .arg(format!("--rate={rate}"))
            .arg(format!("--channels={channels}"))
            .arg("/dev/zero")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pacat starts");
        let mut mic = VirtualMic {
            name: name.to_string(),
            rate,
            channels,
            sink_module,
            source_module: None,
            keepalive,
        };
        mic.plug();
        // One short read wakes the sink, so the first callback comes quickly.
        let _ = Command::new("timeout")
            .args(["0.3", "parec", &format!("--device={name}"), "/dev/null"])
            .env("PULSE_SERVER", pulse_server())
            .status();
        mic
    }

    /// The cpal id of the microphone.
    pub fn id(&self) -> String {
        format!("pulseaudio:{}", self.name)
    }

    pub fn plug(&mut self) {
        self.source_module = Some(tool(
            "pactl",
            &[
                "load-module",
                "module-remap-source",
                &format!("master={}_feed.monitor", self.name),
                &format!("source_name={}", self.name),
                &format!("source_properties=device.description={}", self.name),
            ],
        ));
    }

    pub fn unplug(&mut self) {
        if let Some(module) = self.source_module.take() {
            tool("pactl", &["unload-module", &module]);
        }
    }

    /// Plays a WAV file into the microphone, paced in real time; returns when it has played.
    pub fn play(&self, wav: &Path) {
        tool(
            "paplay",
            &[
                &format!("--device={}_feed", self.name),
                wav.to_str().unwrap(),
            ],
        );
    }
}

impl Drop for VirtualMic {
    fn drop(&mut self) {
        let _ = self.keepalive.kill();
        let _ = self.keepalive.wait();
        self.unplug();
        let _ = Command::new("pactl")
            .env("PULSE_SERVER", pulse_server())
            .args(["unload-module", &self.sink_module])
            .status();
    }
}

/// Records what a PulseAudio source (a sink's `.monitor`: what it plays) carries, as mono
/// 48 kHz floats, until [`Listener::finish`].
pub struct Listener {
    child: Child,
    reader: std::thread::JoinHandle<Vec<u8>>,
}

impl Listener {
    pub fn start(source: &str) -> Listener {
        let mut child = Command::new("parec")
            .env("PULSE_SERVER", pulse_server())
            .arg(format!("--device={source}"))
            .args([
                "--raw",
                "--format=float32le",
                "--rate=48000",
                "--channels=1",
                "--latency-msec=20",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run parec: {err}"));
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
            bytes
        });
        Listener { child, reader }
    }

    /// Stops listening; the samples heard.
    pub fn finish(mut self) -> Vec<f32> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let bytes = self.reader.join().unwrap();
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

/// Test audio: a spoken sentence (espeak-ng) then two DTMF-like tones, at the mic's format.
pub fn test_audio(dir: &Path, rate: u32, channels: u16) -> PathBuf {
    let speech = dir.join("speech.wav");
    let status = Command::new("espeak-ng")
        .args([
            "-w",
            speech.to_str().unwrap(),
            "Hark records interviews. One two three.",
        ])
        .status()
        .expect("espeak-ng runs");
    assert!(status.success());
    let out = dir.join(format!("audio-{rate}-{channels}.wav"));
    // Speech, 0.3 s of silence, tone 1 (697 + 1209 Hz), silence, tone 9 (852 + 1477 Hz).
    let script = format!(
        "sox {speech} -r {rate} -c 1 -b 16 {s1} && \
         sox -n -r {rate} -c 1 -b 16 {t1} synth 0.4 sine 697 sine 1209 remix - gain -8 pad 0.3 0.3 && \
         sox -n -r {rate} -c 1 -b 16 {t9} synth 0.4 sine 852 sine 1477 remix - gain -8 pad 0 0.2 && \
         sox {s1} {t1} {t9} -c {channels} {out}",
        speech = speech.display(),
        s1 = dir.join("s1.wav").display(),
        t1 = dir.join("t1.wav").display(),
        t9 = dir.join("t9.wav").display(),
        out = out.display(),
    );
    let status = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(status.success(), "sox failed: {script}");
    out
}

/// The source file as the engine should see it: mono, 48 kHz.
pub fn reference(wav: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(wav).unwrap();
    let spec = reader.spec();
    let interleaved: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let mut mono = Vec::new();
    downmix_into(&interleaved, usize::from(spec.channels), &mut mono);
    let mut resampler = RateConverter::to_engine(spec.sample_rate).unwrap();
    let mut out = Vec::new();
    mono.extend(std::iter::repeat_n(0.0, spec.sample_rate as usize / 10));
    resampler.process(&mono, &mut out).unwrap();
    out.drain(..resampler.delay().min(out.len()));
    out
}

/// User + system CPU seconds of a process (`self` or a pid), from `/proc` (Linux).
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// A `/proc/<pid>/status` figure in KiB (`self` or a pid; `VmRSS`, `VmHWM`, …).
pub fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
