//! Plays a recording back through the default output device, decoded natively (every source
//! mixed, from any position, with pause and seek), so playback never depends on which formats
//! a webview's media stack can open. Decoding runs on the player's own thread; the audio
//! callback only pops samples from a lock-free ring.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SizedSample};

use crate::dsp::RateConverter;
use crate::encoder::Decoder;
use crate::error::{AudioError, Result};
use crate::recording::{self, PRE_SKIP, Track};
use crate::{FRAME_SAMPLES, SAMPLE_RATE, device};

/// Packets decoded and thrown away before the first one heard after a seek: Opus needs 80 ms
/// to converge on the signal (RFC 7845 §4.6).
const PREROLL_PACKETS: usize = 4;
/// Audio kept ready ahead of the device, in ms: enough to ride out a busy machine, small enough
/// that a pause or seek is heard at once.
const AHEAD_MS: u32 = 250;
/// How often the player's thread tops up the ring.
const TICK: Duration = Duration::from_millis(20);
/// Samples per ms at 48 kHz.
const PER_MS: u64 = SAMPLE_RATE as u64 / 1000;
/// What to tell the user when the output device fails.
const OUTPUT_FIX: &str = "check that speakers or headphones are connected and not held exclusively by another program, then press Play again";

/// Where playback is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlaybackStatus {
    /// Position on the recording's timeline (the transcript's times), in ms.
    pub position_ms: u64,
    /// The recording's length, in ms.
    pub duration_ms: u64,
    /// Whether audio is playing now.
    pub playing: bool,
    /// Why playback stopped, when it failed.
    pub problem: Option<String>,
}

enum Command {
    Play { from_ms: Option<u64> },
    Pause,
}

/// State the player's thread and the audio callback share with the caller.
#[derive(Default)]
struct Shared {
    /// Where the current run started, in ms.
    base_ms: AtomicU64,
    /// Device-rate frames the callback has handed to the device since the run started.
    played: AtomicU64,
    device_rate: AtomicU32,
    playing: AtomicBool,
    problem: Mutex<Option<String>>,
}

impl Shared {
    fn position_ms(&self, duration_ms: u64) -> u64 {
        let base = self.base_ms.load(Ordering::SeqCst);
        let played = self.played.load(Ordering::SeqCst);
        let rate = u64::from(self.device_rate.load(Ordering::SeqCst).max(1));
        (base + played * 1000 / rate).min(duration_ms)
    }

    fn restart_at(&self, ms: u64) {
        self.played.store(0, Ordering::SeqCst);
        self.base_ms.store(ms, Ordering::SeqCst);
    }

    fn fail(&self, problem: String) {
        tracing::warn!(%problem, "playback stopped");
        self.playing.store(false, Ordering::SeqCst);
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }
}

/// A recording opened for playback. Dropping it stops the sound.
pub struct Player {
    commands: Option<mpsc::Sender<Command>>,
    shared: Arc<Shared>,
    duration_ms: u64,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Player {
    /// Reads the recording at `path` (paused at its start). The output device is opened only
    /// when playing.
    pub fn open(path: &Path) -> Result<Player> {
        let tracks = recording::read(path)?;
        let duration_ms = (tracks.iter().map(Track::seconds).fold(0.0, f64::max) * 1000.0) as u64;
        let shared = Arc::new(Shared::default());
        let (commands, receiver) = mpsc::channel();
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hark-playback".into())
                .spawn(move || run(&tracks, duration_ms, &shared, &receiver))
                .map_err(AudioError::Thread)?
        };
        Ok(Player {
            commands: Some(commands),
            shared,
            duration_ms,
            worker: Some(worker),
        })
    }

    /// Plays from `from_ms` on the recording's timeline, or from where it paused (the start
    /// again once it has ended).
    pub fn play(&self, from_ms: Option<u64>) {
        self.shared.playing.store(true, Ordering::SeqCst);
        self.send(Command::Play { from_ms });
    }

    /// Pauses where it is.
    pub fn pause(&self) {
        self.shared.playing.store(false, Ordering::SeqCst);
        self.send(Command::Pause);
    }

    fn send(&self, command: Command) {
        if let Some(commands) = &self.commands {
            // The thread only ends when the player is dropped.
            let _ = commands.send(command);
        }
    }

    /// Where playback is now.
    pub fn status(&self) -> PlaybackStatus {
        PlaybackStatus {
            position_ms: self.shared.position_ms(self.duration_ms),
            duration_ms: self.duration_ms,
            playing: self.shared.playing.load(Ordering::SeqCst),
            problem: self
                .shared
                .problem
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which closes the device. It is not waited for:
        // a sound server that hangs must not hang whoever lets the player go (a recording
        // starting, say).
        self.shared.playing.store(false, Ordering::SeqCst);
        self.commands = None;
        drop(self.worker.take());
    }
}

/// The player's thread: obeys commands, keeps the ring topped up while playing.
fn run(
    tracks: &[Track],
    duration_ms: u64,
    shared: &Arc<Shared>,
    commands: &mpsc::Receiver<Command>,
) {
    let mut current: Option<Output> = None;
    loop {
        let command = if current.is_some() {
            match commands.recv_timeout(TICK) {
                Ok(command) => Some(command),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match commands.recv() {
                Ok(command) => Some(command),
                Err(_) => return,
            }
        };
        match command {
            Some(Command::Play { from_ms }) => {
                let here = shared.position_ms(duration_ms);
                current = None;
                let from = match from_ms {
                    Some(ms) => ms.min(duration_ms),
                    None if here >= duration_ms => 0,
                    None => here,
                };
                shared.restart_at(from);
                *shared.problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
                match Output::open(tracks, from, shared) {
                    Ok(output) => current = Some(output),
                    Err(err) => shared.fail(err.to_string()),
                }
            }
            Some(Command::Pause) => {
                let here = shared.position_ms(duration_ms);
                current = None;
                shared.restart_at(here);
            }
            None => {}
        }
        let Some(output) = current.as_mut() else {
            continue;
        };
        match output.top_up() {
            Ok(true) => {}
            Ok(false) => {
                // Everything was heard: rest at the end.
                current = None;
                shared.restart_at(duration_ms);
                shared.playing.store(false, Ordering::SeqCst);
            }
            Err(err) => {
                let here = shared.position_ms(duration_ms);
                current = None;
                shared.restart_at(here);
                shared.fail(err.to_string());
            }
        }
    }
}

/// One run of playback: the open device, its ring and the decoders feeding it.
struct Output<'a> {
    _stream: cpal::Stream,
    ring: rtrb::Producer<f32>,
    errors: mpsc::Receiver<cpal::Error>,
    mixer: Mixer<'a>,
    converter: RateConverter,
    converted: Vec<f32>,
    device: String,
    decoded_all: bool,
}

impl<'a> Output<'a> {
    fn open(tracks: &'a [Track], from_ms: u64, shared: &Arc<Shared>) -> Result<Output<'a>> {
        let host = device::host();
        let device = host.default_output_device().ok_or(AudioError::Playback {
            device: "the default output".into(),
            problem: "no output device is connected".into(),
            fix: OUTPUT_FIX,
        })?;
        let name = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| "the default output".into());
        let failed = |err: cpal::Error| AudioError::Playback {
            device: name.clone(),
            problem: err.to_string(),
            fix: OUTPUT_FIX,
        };
        let supported = device.default_output_config().map_err(failed)?;
        let rate = supported.sample_rate();
        let mut config = supported.config();
        if device::is_pulse(&host) {
            // PulseAudio's default playback buffer is 2 s, which would put the position shown
            // (what was handed over) that far ahead of what is heard.
            config.buffer_size = cpal::BufferSize::Fixed(rate / 50);
        }
        let (ring, samples) = rtrb::RingBuffer::new((rate * AHEAD_MS / 1000) as usize);
        let (errors_tx, errors) = mpsc::channel();
        shared.device_rate.store(rate, Ordering::SeqCst);
        let callback = Callback {
            samples,
            channels: usize::from(config.channels.max(1)),
            shared: shared.clone(),
        };
        let stream = build(
            &device,
            &config,
            supported.sample_format(),
            callback,
            errors_tx,
        )
        .map_err(failed)?;
        let mut output = Output {
            _stream: stream,
            ring,
            errors,
            mixer: Mixer::at(tracks, from_ms)?,
            converter: RateConverter::new(SAMPLE_RATE, rate)?,
            converted: Vec::new(),
            device: name.clone(),
            decoded_all: false,
        };
        output.top_up()?;
        output._stream.play().map_err(failed)?;
        Ok(output)
    }

    /// Decodes until the ring is full. `false` once everything has been heard.
    fn top_up(&mut self) -> Result<bool> {
        if let Ok(err) = self.errors.try_recv()
            && crate::capture::is_fatal(&err)
        {
            return Err(AudioError::Playback {
                device: self.device.clone(),
                problem: err.to_string(),
                fix: OUTPUT_FIX,
            });
        }
        loop {
            if self.converted.is_empty() {
                if self.decoded_all {
                    // Heard once the device has taken every sample.
                    return Ok(self.ring.slots() < self.ring.buffer().capacity());
                }
                match self.mixer.next_block()? {
                    Some(block) => self.converter.process(block, &mut self.converted)?,
                    None => {
                        // Push the resampler's last partial chunk through.
                        self.converter.process(&[0.0; 480], &mut self.converted)?;
                        self.decoded_all = true;
                    }
                }
            }
            let n = self.ring.slots().min(self.converted.len());
            if n == 0 {
                return Ok(true);
            }
            if let Ok(chunk) = self.ring.write_chunk_uninit(n) {
                chunk.fill_from_iter(self.converted.drain(..n));
            }
        }
    }
}

/// The real-time side: pops mono samples and copies each to every channel; silence when the
/// ring runs dry (never blocks, allocates or locks).
struct Callback {
    samples: rtrb::Consumer<f32>,
    channels: usize,
    shared: Arc<Shared>,
}

impl Callback {
    fn fill<T: Sample + FromSample<f32>>(&mut self, data: &mut [T]) {
        let frames = data.len() / self.channels;
        let available = self.samples.slots().min(frames);
        let mut frames_out = data.chunks_exact_mut(self.channels);
        if let Ok(chunk) = self.samples.read_chunk(available) {
            let (first, second) = chunk.as_slices();
            for (&sample, frame) in first.iter().chain(second).zip(&mut frames_out) {
                frame.fill(T::from_sample(sample));
            }
            chunk.commit_all();
        }
        for frame in frames_out {
            frame.fill(T::EQUILIBRIUM);
        }
        self.shared
            .played
            .fetch_add(available as u64, Ordering::SeqCst);
    }
}

fn build(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    callback: Callback,
    errors: mpsc::Sender<cpal::Error>,
) -> std::result::Result<cpal::Stream, cpal::Error> {
    use cpal::SampleFormat as F;
    match format {
        F::I16 => typed::<i16>(device, config, callback, errors),
        F::I32 => typed::<i32>(device, config, callback, errors),
        F::U16 => typed::<u16>(device, config, callback, errors),
        F::F32 => typed::<f32>(device, config, callback, errors),
        F::F64 => typed::<f64>(device, config, callback, errors),
        // Anything else: ask for floats, which every sound server converts from.
        _ => typed::<f32>(device, config, callback, errors),
    }
}

fn typed<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut callback: Callback,
    errors: mpsc::Sender<cpal::Error>,
) -> std::result::Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| callback.fill(data),
        move |err| {
            let _ = errors.send(err);
        },
        None,
    )
}

/// Decodes every track in step and mixes them into one mono 48 kHz signal.
struct Mixer<'a> {
    tracks: Vec<(&'a Track, Decoder)>,
    next_packet: usize,
    packets: usize,
    /// Samples still to drop from the next block (the seek's offset within its packet).
    skip: usize,
    decoded: Vec<f32>,
    mixed: Vec<f32>,
}

impl<'a> Mixer<'a> {
    /// Positioned at `from_ms` on the recording's timeline (after the Opus pre-skip).
    fn at(tracks: &'a [Track], from_ms: u64) -> Result<Mixer<'a>> {
        let target = from_ms * PER_MS + u64::from(PRE_SKIP);
        let packet = (target / FRAME_SAMPLES as u64) as usize;
        let mut mixer = Mixer {
            tracks: tracks
                .iter()
                .map(|track| Ok((track, Decoder::new()?)))
                .collect::<Result<_>>()?,
            next_packet: packet.saturating_sub(PREROLL_PACKETS),
            packets: tracks.iter().map(|t| t.packets.len()).max().unwrap_or(0),
            skip: (target % FRAME_SAMPLES as u64) as usize,
            decoded: Vec::with_capacity(FRAME_SAMPLES * 6),
            mixed: Vec::with_capacity(FRAME_SAMPLES),
        };
        while mixer.next_packet < packet.min(mixer.packets) {
            mixer.decode_next()?;
        }
        Ok(mixer)
    }

    fn decode_next(&mut self) -> Result<()> {
        let index = self.next_packet;
        self.next_packet += 1;
        self.mixed.clear();
        self.mixed.resize(FRAME_SAMPLES, 0.0);
        for (track, decoder) in &mut self.tracks {
            let Some(packet) = track.packets.get(index) else {
                continue;
            };
            self.decoded.clear();
            decoder.decode(packet, &mut self.decoded)?;
            for (mixed, sample) in self.mixed.iter_mut().zip(&self.decoded) {
                *mixed += sample;
            }
        }
        Ok(())
    }

    /// The next 20 ms (less after a seek), mixed and clipped; `None` at the end.
    fn next_block(&mut self) -> Result<Option<&[f32]>> {
        if self.next_packet >= self.packets {
            return Ok(None);
        }
        self.decode_next()?;
        for sample in &mut self.mixed {
            *sample = sample.clamp(-1.0, 1.0);
        }
        let skip = std::mem::take(&mut self.skip).min(self.mixed.len());
        Ok(Some(&self.mixed[skip..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::Encoder;
    use crate::recording::RecordingWriter;

    fn tone(hz: f32, seconds: f32) -> Vec<f32> {
        (0..(seconds * 48_000.0) as usize)
            .map(|i| 0.3 * (std::f32::consts::TAU * hz * i as f32 / 48_000.0).sin())
            .collect()
    }

    /// Writes a two-source recording: the microphone has `mic`, the system source `system`.
    fn write(path: &Path, mic: &[f32], system: &[f32]) {
        let mut writer = RecordingWriter::create(path, &["microphone", "system"]).unwrap();
        for (index, samples) in [mic, system].into_iter().enumerate() {
            let mut encoder = Encoder::new(32_000, 0).unwrap();
            for frame in samples.chunks_exact(FRAME_SAMPLES) {
                let packet = encoder.encode(frame.try_into().unwrap()).unwrap();
                writer.write(index, &packet).unwrap();
            }
        }
        writer.finish().unwrap();
    }

    fn energy_at(signal: &[f32], hz: f32) -> f32 {
        let (mut re, mut im) = (0.0f32, 0.0f32);
        for (i, s) in signal.iter().enumerate() {
            let phase = std::f32::consts::TAU * hz * i as f32 / 48_000.0;
            re += s * phase.cos();
            im += s * phase.sin();
        }
        (re * re + im * im).sqrt() / signal.len() as f32
    }

    fn mixed_from(tracks: &[Track], from_ms: u64, seconds: f32) -> Vec<f32> {
        let mut mixer = Mixer::at(tracks, from_ms).unwrap();
        let mut out = Vec::new();
        while out.len() < (seconds * 48_000.0) as usize {
            match mixer.next_block().unwrap() {
                Some(block) => out.extend_from_slice(block),
                None => break,
            }
        }
        out
    }

    #[test]
    fn every_source_is_heard_mixed_and_a_seek_lands_on_its_sample() {
        let dir = std::env::temp_dir().join(format!("hark-playback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("two.ogg");
        // Microphone: 1 s of 440 Hz, then 1 s of 1000 Hz. System: 2 s of 2500 Hz.
        let mut mic = tone(440.0, 1.0);
        mic.extend(tone(1000.0, 1.0));
        write(&path, &mic, &tone(2500.0, 2.0));
        let tracks = recording::read(&path).unwrap();

        let start = mixed_from(&tracks, 100, 0.5);
        assert!(energy_at(&start, 440.0) > 0.05, "the microphone is heard");
        assert!(
            energy_at(&start, 2500.0) > 0.05,
            "the system source is heard"
        );
        assert!(energy_at(&start, 1000.0) < 0.01);

        // A seek into the second half hears the second tone at once, not the first.
        let later = mixed_from(&tracks, 1_050, 0.3);
        assert!(energy_at(&later, 1000.0) > 0.05);
        assert!(energy_at(&later, 440.0) < 0.01);

        // The seek is sample-exact: the change of tone sits 50 ms into a run from 950 ms.
        let around = mixed_from(&tracks, 950, 0.1);
        let before = energy_at(&around[..2_000], 440.0);
        let after = energy_at(&around[2_900..4_800], 1000.0);
        assert!(before > 0.05 && after > 0.05, "{before} {after}");
        assert!(energy_at(&around[2_900..4_800], 440.0) < 0.02);
        assert!(
            energy_at(&around[..2_200], 1000.0) < 0.02,
            "nothing of the second tone before 50 ms"
        );

        // Past the end: nothing more.
        assert!(mixed_from(&tracks, 5_000, 1.0).is_empty());
        let player = Player::open(&path).unwrap();
        assert_eq!(player.status().duration_ms, 2_000);
        assert_eq!(player.status().position_ms, 0);
        assert!(!player.status().playing);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
