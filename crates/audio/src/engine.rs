//! The capture engine: one worker thread per source turns a device's ring of samples into
//! 20 ms frames (downmix, resample, frame, levels, Opus), writes every packet to the recording
//! file before handing it on, and watches the source's health: no callbacks, digital silence,
//! a lost or changed device (re-opened automatically, with events saying so), ring overflows.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::capture::{self, Capture, Tick};
use crate::device::{self, DeviceChoice, DeviceInfo, SourceKind};
use crate::dsp::{Framer, Level, LevelMeter, RateConverter, downmix_into};
use crate::encoder::{Encoder, Packet};
use crate::error::{AudioError, Result};
use crate::recording::RecordingWriter;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// One source to record.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Label written into the recording (`microphone`, `system`).
    pub label: String,
    /// Microphone or system audio.
    pub kind: SourceKind,
    /// Which device.
    pub device: DeviceChoice,
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The sources, in the order their streams appear in the recording.
    pub sources: Vec<SourceSpec>,
    /// Where the Ogg/Opus recording goes.
    pub recording: PathBuf,
    /// Opus bitrate in bit/s.
    pub bitrate: i32,
    /// First RTP timestamp of every source's packets.
    pub rtp_base: u32,
    /// A source with no callbacks for this long is reported and re-opened.
    pub no_callbacks_after: Duration,
    /// A source delivering nothing but exact zeros for this long is reported.
    pub silence_after: Duration,
    /// How often device changes (default moved, chosen device back) are looked for.
    pub device_poll: Duration,
}

impl EngineConfig {
    /// Defaults for recording `sources` into `recording`.
    pub fn new(sources: Vec<SourceSpec>, recording: PathBuf) -> EngineConfig {
        EngineConfig {
            sources,
            recording,
            bitrate: 24_000,
            rtp_base: 0,
            no_callbacks_after: Duration::from_secs(2),
            silence_after: Duration::from_secs(10),
            device_poll: Duration::from_secs(1),
        }
    }
}

/// A frame leaving the engine (already in the recording file).
#[derive(Debug)]
pub struct Frame<'a> {
    /// Index of the source in [`EngineConfig::sources`].
    pub source: usize,
    /// Frame number on the source's timeline (× 20 ms = position in the recording).
    pub index: u64,
    /// The 48 kHz mono samples.
    pub pcm: &'a [f32; FRAME_SAMPLES],
    /// The same frame, Opus-encoded with its RTP timestamp.
    pub packet: &'a Packet,
    /// Silence the engine put in while the device delivered nothing (keeps the timeline).
    pub filled: bool,
}

/// Why a source moved to another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SwitchReason {
    /// The chosen device is missing; the default stands in.
    Fallback,
    /// The chosen device is back.
    Restored,
    /// The system's default device changed.
    DefaultChanged,
}

/// Something wrong with a source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Warning {
    /// The device stopped calling back (unplugged, sleep, a stuck driver); re-opening.
    NoCallbacks {
        /// How long it has been silent.
        seconds: f32,
    },
    /// Nothing but exact zeros: likely muted, or the wrong device.
    Silence {
        /// How long.
        seconds: f32,
    },
    /// The device failed or disappeared; re-opening.
    DeviceLost {
        /// Its name.
        device: String,
        /// What went wrong.
        message: String,
    },
    /// The device could not be opened; retrying every second.
    OpenFailed {
        /// Why, with the fix.
        message: String,
    },
    /// The worker fell behind and the callback had to drop samples.
    Overflow {
        /// Samples (interleaved) dropped so far.
        dropped_samples: u64,
    },
    /// The recording file cannot be written (the disk is full, or was removed): the file
    /// keeps what was saved until then; capture, meters and the live transcript go on.
    WriteFailed {
        /// The file and the system's error.
        message: String,
    },
}

/// The kind of a [`Warning`], for saying it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum WarningKind {
    /// See [`Warning::NoCallbacks`].
    NoCallbacks,
    /// See [`Warning::Silence`].
    Silence,
    /// See [`Warning::DeviceLost`].
    DeviceLost,
    /// See [`Warning::OpenFailed`].
    OpenFailed,
}

/// What the engine tells its owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Event {
    /// A source's device is open and delivering.
    Opened {
        /// Source index.
        source: usize,
        /// The device.
        device: DeviceInfo,
        /// Its rate in Hz.
        rate: u32,
        /// Its channels.
        channels: u16,
        /// Its sample format.
        sample_format: String,
    },
    /// Levels over the last 50 ms (dBFS, floored at -120).
    Level {
        /// Source index.
        source: usize,
        /// RMS.
        rms_dbfs: f32,
        /// Peak.
        peak_dbfs: f32,
    },
    /// Something is wrong.
    Warning {
        /// Source index.
        source: usize,
        /// What.
        warning: Warning,
    },
    /// A warning no longer holds.
    Cleared {
        /// Source index.
        source: usize,
        /// Which warning.
        warning: WarningKind,
    },
    /// The source moved to another device.
    Switched {
        /// Source index.
        source: usize,
        /// Previous device name.
        from: String,
        /// New device name.
        to: String,
        /// Why.
        reason: SwitchReason,
    },
}

/// Where frames and events go. Called from the engine's worker threads, never from an audio
/// callback; keep it quick (hand over to a channel).
pub trait Output: Send + Sync + 'static {
    /// A frame, after it is in the recording file.
    fn frame(&self, frame: &Frame<'_>);
    /// An event.
    fn event(&self, event: Event);
}

/// Figures for one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceStats {
    /// Frames produced (captured and filled).
    pub frames: u64,
    /// Frames of silence put in while the device delivered nothing.
    pub filled_frames: u64,
    /// Interleaved samples the callback dropped because the ring was full.
    pub dropped_samples: u64,
    /// Audio callbacks seen.
    pub callbacks: u64,
    /// Worst time from the callback that delivered a frame's last sample to the frame leaving.
    pub max_latency_us: u64,
    /// Mean of the same.
    pub mean_latency_us: u64,
    /// Times the device was (re-)opened.
    pub opens: u32,
}

/// A running engine; [`Engine::stop`] finishes the recording.
#[derive(Debug)]
pub struct Engine {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    writer: Arc<Mutex<Option<RecordingWriter>>>,
    stats: Arc<Vec<Mutex<SourceStats>>>,
    errors: Arc<Mutex<Vec<AudioError>>>,
}

/// Silence longer than this with an open device is filled, so the timeline keeps wall time.
const GAP_FILL_AFTER: Duration = Duration::from_millis(500);
/// Frames a device may fall behind wall time before the difference is filled with silence
/// (12 × 20 ms; device clocks drift far less, so only lost audio reaches it).
const LAG_FILL_FRAMES: u64 = 12;
/// How long opening a device may take before the attempt is abandoned.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the worker sleeps when nothing wakes it. Audio callbacks, stream errors, a
/// finished open and stop all wake it at once; this only paces the clock-driven work (silence
/// fill on wall time, the no-callbacks and device-change checks).
const IDLE_WAKE: Duration = Duration::from_millis(50);
/// How often the device watcher looks at the stop flag between snapshots.
const WATCH_STOP_CHECK: Duration = Duration::from_millis(100);
/// After stop, how long a worker waits for the device's next callback, which carries the audio
/// captured up to stop that the sound server still held (one PulseAudio fragment, with margin).
const STOP_GRACE: Duration = capture::PULSE_FRAGMENT.saturating_add(Duration::from_millis(50));

impl Engine {
    /// Opens every source (failing with a clear error if one cannot be opened now), creates the
    /// recording file and starts capturing.
    pub fn start(config: EngineConfig, output: Arc<dyn Output>) -> Result<Engine> {
        let labels: Vec<&str> = config.sources.iter().map(|s| s.label.as_str()).collect();
        let writer = RecordingWriter::create(&config.recording, &labels)?;
        let writer = Arc::new(Mutex::new(Some(writer)));
        let stop = Arc::new(AtomicBool::new(false));
        let stats: Arc<Vec<Mutex<SourceStats>>> = Arc::new(
            config
                .sources
                .iter()
                .map(|_| Mutex::new(SourceStats::default()))
                .collect(),
        );
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut engine = Engine {
            stop,
            paused: Arc::new(AtomicBool::new(false)),
            workers: Vec::new(),
            writer,
            stats,
            errors,
        };
        for (idx, spec) in config.sources.iter().enumerate() {
            let (ready_tx, ready_rx) = mpsc::channel();
            let worker = Worker {
                idx,
                spec: spec.clone(),
                config: config.clone(),
                output: output.clone(),
                writer: engine.writer.clone(),
                stop: engine.stop.clone(),
                paused: engine.paused.clone(),
                stats: engine.stats.clone(),
                errors: engine.errors.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("hark-audio-{}", spec.label))
                .spawn(move || worker.run(ready_tx))
                .map_err(AudioError::Thread)?;
            engine.workers.push(handle);
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    let _ = engine.shutdown();
                    return Err(err);
                }
                Err(_) => {
                    let _ = engine.shutdown();
                    return Err(AudioError::Capture {
                        device: spec.label.clone(),
                        message: "the audio worker stopped while opening the device".into(),
                    });
                }
            }
        }
        Ok(engine)
    }

    /// Pauses or resumes recording: while paused the devices stay open (so resuming is
    /// instant) but nothing reaches the file or the owner, and the timeline does not advance.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Whether recording is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Figures per source so far.
    pub fn stats(&self) -> Vec<SourceStats> {
        self.stats
            .iter()
            .map(|s| s.lock().map(|s| s.clone()).unwrap_or_default())
            .collect()
    }

    /// Stops capturing, writes the last frames and closes the recording file.
    pub fn stop(mut self) -> Result<Vec<SourceStats>> {
        self.shutdown()?;
        Ok(self.stats())
    }

    fn shutdown(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        for worker in &self.workers {
            worker.thread().unpark();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        if let Some(err) = self.errors.lock().ok().and_then(|mut e| e.pop()) {
            return Err(err);
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        match writer {
            Some(writer) => writer.finish(),
            None => Ok(()),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            let _ = self.shutdown();
        }
    }
}

struct Worker {
    idx: usize,
    spec: SourceSpec,
    config: EngineConfig,
    output: Arc<dyn Output>,
    writer: Arc<Mutex<Option<RecordingWriter>>>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    stats: Arc<Vec<Mutex<SourceStats>>>,
    errors: Arc<Mutex<Vec<AudioError>>>,
}

/// A device that is open, with the conversion state that depends on its format.
struct Open {
    capture: Capture,
    info: DeviceInfo,
    fallback: bool,
    resampler: RateConverter,
    /// Interleaved samples taken from the ring so far.
    consumed: u64,
    last_callback: Instant,
    opened_at: Instant,
    recent_ticks: std::collections::VecDeque<Tick>,
    reported_drops: u64,
    /// When this device's audio began, and the timeline's frame count then.
    first_audio: Option<(Instant, u64)>,
}

/// Everything on the source's 48 kHz timeline.
struct Timeline {
    framer: Framer,
    meter: LevelMeter,
    encoder: Encoder,
    frames: u64,
    zero_run: usize,
    silence_warned: bool,
}

impl Worker {
    fn run(self, ready: mpsc::Sender<Result<()>>) {
        let result = self.run_inner(ready);
        if let Err(err) = result
            && let Ok(mut errors) = self.errors.lock()
        {
            errors.push(err);
        }
    }

    fn emit(&self, event: Event) {
        self.output.event(event);
    }

    fn warn(&self, warning: Warning) {
        tracing::warn!(source = %self.spec.label, ?warning, "audio source warning");
        self.emit(Event::Warning {
            source: self.idx,
            warning,
        });
    }

    fn clear(&self, warning: WarningKind) {
        self.emit(Event::Cleared {
            source: self.idx,
            warning,
        });
    }

    /// Opens the device on a thread of its own with a fresh sound-server connection: a server
    /// that hangs (or a connection wedged by a vanished device) must not hold up the worker.
    fn spawn_open(&self) -> mpsc::Receiver<Result<Opened>> {
        let (tx, rx) = mpsc::channel();
        let (kind, choice) = (self.spec.kind, self.spec.device.clone());
        let worker = std::thread::current();
        let spawned = std::thread::Builder::new()
            .name("hark-audio-open".into())
            .spawn(move || {
                let host = device::host();
                let opened = device::resolve(&host, kind, &choice).and_then(|resolved| {
                    let capture = Capture::open(
                        &resolved.device,
                        &resolved.info,
                        device::is_pulse(&host),
                        worker.clone(),
                    )?;
                    Ok(Opened {
                        capture,
                        info: resolved.info,
                        fallback: resolved.fallback,
                    })
                });
                // Nobody waiting any more: the capture closes here, off the worker.
                let _ = tx.send(opened);
                worker.unpark();
            });
        if let Err(err) = spawned {
            let (tx, failed) = mpsc::channel();
            let _ = tx.send(Err(AudioError::Thread(err)));
            return failed;
        }
        rx
    }

    /// Takes over a freshly opened device.
    fn adopt(&self, opened: Opened) -> Result<Open> {
        let Opened {
            capture,
            info,
            fallback,
        } = opened;
        let resampler = RateConverter::to_engine(capture.rate)?;
        if let Ok(mut stats) = self.stats[self.idx].lock() {
            stats.opens += 1;
        }
        tracing::info!(
            source = %self.spec.label,
            device = %info.name,
            rate = capture.rate,
            channels = capture.channels,
            format = %capture.sample_format,
            "audio source opened"
        );
        self.emit(Event::Opened {
            source: self.idx,
            device: info.clone(),
            rate: capture.rate,
            channels: capture.channels,
            sample_format: capture.sample_format.to_string(),
        });
        Ok(Open {
            capture,
            info,
            fallback,
            resampler,
            consumed: 0,
            last_callback: Instant::now(),
            opened_at: Instant::now(),
            recent_ticks: std::collections::VecDeque::with_capacity(256),
            reported_drops: 0,
            first_audio: None,
        })
    }

    fn run_inner(&self, ready: mpsc::Sender<Result<()>>) -> Result<()> {
        let mut timeline = Timeline {
            framer: Framer::default(),
            meter: LevelMeter::default(),
            encoder: Encoder::new(self.config.bitrate, self.config.rtp_base)?,
            frames: 0,
            zero_run: 0,
            silence_warned: false,
        };
        let watcher = Watcher::spawn(self.spec.kind, self.config.device_poll, self.stop.clone());
        let first = match self.spawn_open().recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(opened)) => self.adopt(opened),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(AudioError::NoDevice {
                what: "sound server answer",
                fix: format!(
                    "opening the device took longer than {OPEN_TIMEOUT:?}; restart the sound \
                     server (or the computer) and try again"
                ),
            }),
        };
        let mut open = match first {
            Ok(open) => {
                if open.fallback {
                    self.announce_fallback(&open);
                }
                let _ = ready.send(Ok(()));
                Some(open)
            }
            Err(err) => {
                let _ = ready.send(Err(err));
                return Ok(());
            }
        };
        let mut opening: Option<(mpsc::Receiver<Result<Opened>>, Instant)> = None;
        let (mut last_name, mut last_id) = open
            .as_ref()
            .map(|o| (o.info.name.clone(), o.info.id.clone()))
            .unwrap_or_default();
        let mut last_audio = Instant::now();
        let mut frames_at_last_audio = 0u64;
        let mut next_poll = Instant::now() + self.config.device_poll;
        let mut next_attempt = Instant::now();
        let mut open_failure: Option<String> = None;
        let mut lost = false;
        let mut no_callbacks_warned = false;
        let mut scratch = Scratch::default();
        let mut stop_seen: Option<Instant> = None;

        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            let now = Instant::now();
            let stop_at = stopping.then(|| *stop_seen.get_or_insert(now));

            // Re-open a closed source, without waiting on the sound server.
            if open.is_none() && opening.is_none() && !stopping && now >= next_attempt {
                opening = Some((self.spawn_open(), now));
            }
            let attempt = match &opening {
                Some((rx, since)) => match rx.try_recv() {
                    Ok(result) => Some(result.and_then(|opened| self.adopt(opened))),
                    Err(mpsc::TryRecvError::Empty) if since.elapsed() < OPEN_TIMEOUT => None,
                    Err(_) => Some(Err(AudioError::Capture {
                        device: last_name.clone(),
                        message: format!("the sound server did not answer within {OPEN_TIMEOUT:?}"),
                    })),
                },
                None => None,
            };
            if let Some(attempt) = attempt {
                opening = None;
                match attempt {
                    Ok(reopened) => {
                        if reopened.info.id != last_id {
                            self.emit(Event::Switched {
                                source: self.idx,
                                from: last_name.clone(),
                                to: reopened.info.name.clone(),
                                reason: if reopened.fallback {
                                    SwitchReason::Fallback
                                } else if matches!(self.spec.device, DeviceChoice::Id(_)) {
                                    SwitchReason::Restored
                                } else {
                                    SwitchReason::DefaultChanged
                                },
                            });
                        }
                        last_name = reopened.info.name.clone();
                        last_id = reopened.info.id.clone();
                        if open_failure.take().is_some() {
                            self.clear(WarningKind::OpenFailed);
                        }
                        if std::mem::take(&mut lost) {
                            self.clear(WarningKind::DeviceLost);
                        }
                        if std::mem::take(&mut no_callbacks_warned) {
                            self.clear(WarningKind::NoCallbacks);
                        }
                        open = Some(reopened);
                    }
                    Err(err) => {
                        let message = err.to_string();
                        if open_failure.as_deref() != Some(message.as_str()) {
                            self.warn(Warning::OpenFailed {
                                message: message.clone(),
                            });
                            open_failure = Some(message);
                        }
                        next_attempt = now + Duration::from_secs(1);
                    }
                }
            }

            let mut got_audio = false;
            if let Some(current) = open.as_mut() {
                // Errors from the running stream.
                let mut fatal = None;
                while let Ok(err) = current.capture.errors.try_recv() {
                    if capture::is_fatal(&err) {
                        fatal = Some(err);
                    }
                }
                // Paused: keep the device drained and the clocks current, record nothing.
                let paused = self.paused.load(Ordering::SeqCst);
                if paused {
                    while let Ok(tick) = current.capture.ticks.pop() {
                        current.last_callback = tick.at;
                    }
                    let waiting = current.capture.samples.slots();
                    if let Ok(chunk) = current.capture.samples.read_chunk(waiting) {
                        chunk.commit_all();
                    }
                    current.first_audio = None;
                    last_audio = now;
                    frames_at_last_audio = timeline.frames;
                }
                // The first audio of a (re)opened device: put the silence of the switch on the
                // timeline first, so positions stay on wall time however short the gap was.
                let waiting = current.capture.samples.slots();
                if !paused && current.consumed == 0 && waiting > 0 {
                    let per_second = f64::from(current.capture.rate)
                        * f64::from(current.capture.channels.max(1));
                    let arrived = Duration::from_secs_f64(waiting as f64 / per_second);
                    let gap = now
                        .saturating_duration_since(last_audio)
                        .saturating_sub(arrived);
                    let due = frames_at_last_audio + (gap.as_millis() / 20) as u64;
                    while timeline.frames < due {
                        self.frame(&mut timeline, &[0.0; FRAME_SAMPLES], true)?;
                    }
                }
                got_audio = !paused && self.drain(current, &mut timeline, &mut scratch)?;
                if got_audio {
                    // Audio the sound server lost (an overrun while a stream was moved, say)
                    // leaves the device behind wall time: put the missing time back as silence.
                    let (began, frames_then) =
                        *current.first_audio.get_or_insert((now, timeline.frames));
                    let due = frames_then
                        + (now.saturating_duration_since(began).as_millis() / 20) as u64;
                    if due > timeline.frames + LAG_FILL_FRAMES {
                        while timeline.frames < due {
                            self.frame(&mut timeline, &[0.0; FRAME_SAMPLES], true)?;
                        }
                    }
                    last_audio = Instant::now();
                    frames_at_last_audio = timeline.frames;
                }
                let dropped = current.capture.dropped.load(Ordering::Relaxed);
                if dropped > current.reported_drops {
                    if let Ok(mut stats) = self.stats[self.idx].lock() {
                        stats.dropped_samples += dropped - current.reported_drops;
                    }
                    current.reported_drops = dropped;
                    self.warn(Warning::Overflow {
                        dropped_samples: dropped,
                    });
                }
                let quiet_for = now.saturating_duration_since(current.last_callback);
                let mut close_reason = None;
                if let Some(err) = fatal {
                    close_reason = Some(Move::Lost(Warning::DeviceLost {
                        device: current.info.name.clone(),
                        message: capture::describe_error(&err, &current.info).to_string(),
                    }));
                } else if quiet_for >= self.config.no_callbacks_after && !stopping {
                    close_reason = Some(Move::Lost(Warning::NoCallbacks {
                        seconds: quiet_for.as_secs_f32(),
                    }));
                } else if now >= next_poll && !stopping {
                    next_poll = now + self.config.device_poll;
                    close_reason = self.device_moved(&watcher, current);
                }
                if let Some(reason) = close_reason {
                    match reason {
                        Move::Lost(warning @ Warning::NoCallbacks { .. }) => {
                            if !std::mem::replace(&mut no_callbacks_warned, true) {
                                self.warn(warning);
                            }
                        }
                        Move::Lost(warning) => {
                            if !std::mem::replace(&mut lost, true) {
                                self.warn(warning);
                            }
                        }
                        Move::Switch => {}
                    }
                    last_name = current.info.name.clone();
                    last_id = current.info.id.clone();
                    if let Some(old) = open.take() {
                        retire(old.capture);
                    }
                    next_attempt = now;
                }
            }

            // Keep the timeline on wall time while nothing arrives.
            if self.paused.load(Ordering::SeqCst) {
                last_audio = now;
                frames_at_last_audio = timeline.frames;
            }
            if !got_audio && !stopping {
                let gap = now.saturating_duration_since(last_audio);
                if gap >= GAP_FILL_AFTER {
                    let due = frames_at_last_audio + (gap.as_millis() / 20) as u64;
                    while timeline.frames < due {
                        self.frame(&mut timeline, &[0.0; FRAME_SAMPLES], true)?;
                    }
                }
            }

            // Stopped while recording an open device: its next callback brings the audio up to
            // stop that the sound server still held, so wait for it (bounded by STOP_GRACE).
            let tail_pending = match (stop_at, open.as_ref()) {
                (Some(at), Some(current)) => {
                    !self.paused.load(Ordering::SeqCst)
                        && current.last_callback < at
                        && now < at + STOP_GRACE
                }
                _ => false,
            };
            if stopping && !tail_pending {
                // Whatever is left in the ring, then the partial frame padded with zeros.
                if let Some(current) = open.as_mut()
                    && self.drain(current, &mut timeline, &mut scratch)?
                {
                    last_audio = now;
                    frames_at_last_audio = timeline.frames;
                }
                // A device that went quiet (or was still waking up) at the end: the recording
                // still lasts until stop.
                let quiet = now.saturating_duration_since(last_audio);
                if quiet >= Duration::from_millis(100) {
                    let due = frames_at_last_audio + (quiet.as_millis() / 20) as u64;
                    while timeline.frames < due {
                        self.frame(&mut timeline, &[0.0; FRAME_SAMPLES], true)?;
                    }
                }
                let pending = timeline.framer.pending();
                if pending > 0 {
                    let pad = vec![0.0; FRAME_SAMPLES - pending];
                    let mut frames = Vec::new();
                    timeline.framer.push(&pad, |frame| frames.push(*frame));
                    for frame in frames {
                        self.frame(&mut timeline, &frame, false)?;
                    }
                }
                if let Some(old) = open.take() {
                    retire(old.capture);
                }
                return Ok(());
            }
            if !got_audio {
                // Returns at once if a callback (or stop) came since the last park.
                let wake = match stop_at {
                    Some(at) => (at + STOP_GRACE)
                        .saturating_duration_since(now)
                        .min(IDLE_WAKE),
                    None => IDLE_WAKE,
                };
                std::thread::park_timeout(wake);
            }
        }
    }

    fn announce_fallback(&self, open: &Open) {
        if let DeviceChoice::Id(wanted) = &self.spec.device {
            self.emit(Event::Switched {
                source: self.idx,
                from: wanted.clone(),
                to: open.info.name.clone(),
                reason: SwitchReason::Fallback,
            });
        }
    }

    /// Whether the device should change: the chosen one vanished or came back, or the default
    /// moved (judged from the watcher's snapshot, taken after the device was opened).
    fn device_moved(&self, watcher: &Watcher, current: &Open) -> Option<Move> {
        let seen = watcher.latest()?;
        if seen.at <= current.opened_at {
            return None;
        }
        let connected = |id: &str| seen.snapshot.ids.iter().any(|known| known == id);
        let gone = || {
            Move::Lost(Warning::DeviceLost {
                device: current.info.name.clone(),
                message: format!("{} was disconnected", current.info.name),
            })
        };
        match &self.spec.device {
            // Back on the chosen device as soon as it returns.
            DeviceChoice::Id(wanted) if current.fallback => {
                connected(wanted).then_some(Move::Switch)
            }
            DeviceChoice::Id(_) => (!connected(&current.info.id)).then(gone),
            DeviceChoice::Default => match &seen.snapshot.default_id {
                Some(id) if *id == current.info.id => None,
                Some(_) => Some(Move::Switch),
                None => Some(gone()),
            },
        }
    }

    /// Moves everything in the ring through the pipeline; whether any audio arrived.
    fn drain(
        &self,
        open: &mut Open,
        timeline: &mut Timeline,
        scratch: &mut Scratch,
    ) -> Result<bool> {
        while let Ok(tick) = open.capture.ticks.pop() {
            open.last_callback = tick.at;
            if open.recent_ticks.len() == open.recent_ticks.capacity() {
                open.recent_ticks.pop_front();
            }
            open.recent_ticks.push_back(tick);
            if let Ok(mut stats) = self.stats[self.idx].lock() {
                stats.callbacks += 1;
            }
        }
        let channels = usize::from(open.capture.channels.max(1));
        let available = open.capture.samples.slots();
        let take = available - available % channels;
        if take == 0 {
            return Ok(false);
        }
        let chunk = open
            .capture
            .samples
            .read_chunk(take)
            .expect("slots were counted");
        let (first, second) = chunk.as_slices();
        scratch.interleaved.clear();
        scratch.interleaved.extend_from_slice(first);
        scratch.interleaved.extend_from_slice(second);
        chunk.commit_all();
        open.consumed += take as u64;

        scratch.mono.clear();
        downmix_into(&scratch.interleaved, channels, &mut scratch.mono);
        scratch.resampled.clear();
        open.resampler
            .process(&scratch.mono, &mut scratch.resampled)?;
        scratch.frames.clear();
        timeline
            .framer
            .push(&scratch.resampled, |frame| scratch.frames.push(*frame));
        let frames = std::mem::take(&mut scratch.frames);
        for frame in &frames {
            self.frame(timeline, frame, false)?;
        }
        scratch.frames = frames;
        if !scratch.frames.is_empty() {
            // Latency: from the callback that delivered the newest sample to now.
            let delivered = open
                .recent_ticks
                .iter()
                .find(|tick| tick.pushed_total >= open.consumed)
                .map(|tick| tick.at);
            if let Some(at) = delivered {
                let latency = at.elapsed().as_micros() as u64;
                if let Ok(mut stats) = self.stats[self.idx].lock() {
                    let n = stats.frames.max(1);
                    stats.max_latency_us = stats.max_latency_us.max(latency);
                    stats.mean_latency_us = (stats.mean_latency_us * (n - 1) + latency) / n;
                }
            }
        }
        Ok(true)
    }

    /// One frame onto the timeline: levels, silence watch, Opus, file, then the owner.
    /// Appends this source's packet to the file; on a failure the writer is let go (the file
    /// ends at its last synced page) and the error returned, once.
    fn write(&self, packet: &Packet) -> Option<AudioError> {
        let mut writer = self.writer.lock().ok()?;
        let err = writer.as_mut()?.write(self.idx, packet).err()?;
        writer.take();
        Some(err)
    }

    fn frame(
        &self,
        timeline: &mut Timeline,
        pcm: &[f32; FRAME_SAMPLES],
        filled: bool,
    ) -> Result<()> {
        let idx = self.idx;
        let output = &self.output;
        timeline.meter.push(pcm, |level: Level| {
            output.event(Event::Level {
                source: idx,
                rms_dbfs: level.rms_dbfs.max(-120.0),
                peak_dbfs: level.peak_dbfs.max(-120.0),
            });
        });
        if !filled {
            if pcm.iter().all(|&s| s == 0.0) {
                timeline.zero_run += FRAME_SAMPLES;
                let seconds = timeline.zero_run as f32 / SAMPLE_RATE as f32;
                if !timeline.silence_warned && seconds >= self.config.silence_after.as_secs_f32() {
                    timeline.silence_warned = true;
                    self.warn(Warning::Silence { seconds });
                }
            } else {
                timeline.zero_run = 0;
                if std::mem::take(&mut timeline.silence_warned) {
                    self.clear(WarningKind::Silence);
                }
            }
        }
        let packet = timeline.encoder.encode(pcm)?;
        if let Some(err) = self.write(&packet) {
            // Said once, by the source whose write failed; the others find no writer left.
            self.warn(Warning::WriteFailed {
                message: err.to_string(),
            });
            if let Ok(mut errors) = self.errors.lock() {
                errors.push(err);
            }
        }
        self.output.frame(&Frame {
            source: idx,
            index: timeline.frames,
            pcm,
            packet: &packet,
            filled,
        });
        timeline.frames += 1;
        if let Ok(mut stats) = self.stats[idx].lock() {
            stats.frames += 1;
            if filled {
                stats.filled_frames += 1;
            }
        }
        Ok(())
    }
}

/// Buffers the worker reuses between rounds.
#[derive(Default)]
struct Scratch {
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    resampled: Vec<f32>,
    frames: Vec<[f32; FRAME_SAMPLES]>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("source", &self.spec.label)
            .finish()
    }
}

/// A device opened by [`Worker::spawn_open`].
struct Opened {
    capture: Capture,
    info: DeviceInfo,
    fallback: bool,
}

/// Closes a capture on a thread of its own: closing a stream whose device vanished can block.
fn retire(capture: Capture) {
    let spawned = std::thread::Builder::new()
        .name("hark-audio-close".into())
        .spawn(move || drop(capture));
    if let Err(err) = spawned {
        tracing::warn!(%err, "cannot close an audio stream on its own thread");
    }
}

/// Looks at the connected devices on a thread and a sound-server connection of its own, so a
/// slow or stuck query never holds up the worker.
struct Watcher {
    latest: Arc<Mutex<Option<Seen>>>,
}

#[derive(Clone)]
struct Seen {
    snapshot: device::Snapshot,
    at: Instant,
}

impl Watcher {
    fn spawn(kind: SourceKind, every: Duration, stop: Arc<AtomicBool>) -> Watcher {
        let latest = Arc::new(Mutex::new(None));
        let shared = latest.clone();
        let spawned = std::thread::Builder::new()
            .name("hark-audio-watch".into())
            .spawn(move || {
                let host = device::host();
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(snapshot) = device::snapshot(&host, kind)
                        && let Ok(mut latest) = shared.lock()
                    {
                        *latest = Some(Seen {
                            snapshot,
                            at: Instant::now(),
                        });
                    }
                    let until = Instant::now() + every;
                    while !stop.load(Ordering::SeqCst) {
                        let left = until.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        std::thread::sleep(left.min(WATCH_STOP_CHECK));
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot watch audio devices; device changes will go unnoticed");
        }
        Watcher { latest }
    }

    fn latest(&self) -> Option<Seen> {
        self.latest.try_lock().ok()?.clone()
    }
}

/// Why the current device has to be closed.
enum Move {
    /// It failed or went quiet: warn, then re-open.
    Lost(Warning),
    /// Another device should be used now (the default moved, the chosen one is back).
    Switch,
}
