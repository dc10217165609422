//! One open input stream feeding a lock-free SPSC ring: a cpal stream, or on Linux's sound
//! server libpulse's own client ([`crate::pulse`]). The audio callback only converts samples to
//! f32, pushes them and wakes the worker (no allocation, lock, log or I/O); overflows are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::Thread;
use std::time::Instant;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, Sample, SizedSample};

use crate::device::{self, DeviceInfo};
use crate::error::{AudioError, Result};

/// Seconds of audio the ring holds before the callback has to drop samples.
const RING_SECONDS: u32 = 2;
/// Callback timestamps the worker can fall behind on (≈ 2 s of 10 ms callbacks).
const TIMING_SLOTS: usize = 256;
/// The PulseAudio record fragment: at most this much audio is handed over at a time when
/// Hark alone sets the microphone's pace (the server settles on about 80 ms). Against 50 ms it
/// means fewer hand-overs, so less CPU (measured with cpal's client: 2.15 % -> 1.90 % of a core
/// in the record benchmark, beside 1.90 % and 1.88 % for `parec | opusenc`); it rides out
/// a client thread delayed by a busy machine and stays far inside the live transcript's latency.
/// Stop waits for the last hand-over (the engine's `STOP_GRACE`), so nothing said is lost.
pub(crate) const PULSE_FRAGMENT: std::time::Duration = std::time::Duration::from_millis(100);

/// What the callback tells the worker besides samples: when it ran and how many interleaved
/// samples had been pushed in total after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tick {
    pub at: Instant,
    pub pushed_total: u64,
}

/// What keeps a capture running; dropping it stops the stream (so it is held, never read).
#[allow(dead_code)]
enum Stream {
    Cpal(cpal::Stream),
    #[cfg(target_os = "linux")]
    Pulse(crate::pulse::PulseStream),
}

/// An open, playing capture stream.
pub(crate) struct Capture {
    _stream: Stream,
    pub samples: rtrb::Consumer<f32>,
    pub ticks: rtrb::Consumer<Tick>,
    pub errors: mpsc::Receiver<cpal::Error>,
    /// Interleaved samples dropped because the ring was full.
    pub dropped: Arc<AtomicU64>,
    pub rate: u32,
    pub channels: u16,
    pub sample_format: cpal::SampleFormat,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("sample_format", &self.sample_format)
            .finish_non_exhaustive()
    }
}

pub(crate) struct CallbackState {
    samples: rtrb::Producer<f32>,
    ticks: rtrb::Producer<Tick>,
    dropped: Arc<AtomicU64>,
    pushed_total: u64,
    /// The worker that drains the ring; it sleeps until a callback wakes it.
    worker: Thread,
    /// Samples the ring can hold.
    capacity: usize,
    /// Samples in one 20 ms frame: the worker only has work once the ring holds that many
    /// (it drains the ring whenever it runs), so a device calling back every few milliseconds
    /// wakes it at most 50 times a second.
    frame: usize,
}

impl CallbackState {
    /// The real-time path of one callback: convert and push, then tell the worker.
    fn push<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        self.push_samples(data.iter().map(|s| s.to_sample::<f32>()));
        self.tick();
    }

    /// Pushes what fits of `samples` (interleaved f32) and counts the rest as dropped.
    pub(crate) fn push_samples(&mut self, samples: impl ExactSizeIterator<Item = f32>) {
        let len = samples.len();
        let room = self.samples.slots().min(len);
        if let Ok(chunk) = self.samples.write_chunk_uninit(room) {
            chunk.fill_from_iter(samples.take(room));
        }
        if room < len {
            self.dropped
                .fetch_add((len - room) as u64, Ordering::Relaxed);
        }
        self.pushed_total += room as u64;
    }

    /// Interleaved samples pushed so far.
    #[cfg(target_os = "linux")]
    pub(crate) fn pushed(&self) -> u64 {
        self.pushed_total
    }

    /// Wakes the worker (to see a stream error).
    #[cfg(target_os = "linux")]
    pub(crate) fn wake(&self) {
        self.worker.unpark();
    }

    /// Records when audio arrived and wakes the worker once a frame is waiting (an atomic
    /// store, plus a futex wake when it is asleep).
    pub(crate) fn tick(&mut self) {
        // A full timing ring only loses latency figures, never audio.
        let _ = self.ticks.push(Tick {
            at: Instant::now(),
            pushed_total: self.pushed_total,
        });
        if self.capacity - self.samples.slots() >= self.frame {
            self.worker.unpark();
        }
    }
}

impl Capture {
    /// Opens `device` with its default capture format and starts it; a callback that leaves a
    /// whole frame in the ring wakes `worker`, and so does each stream error. With `pulse` (cpal's
    /// PulseAudio host picked the device) the stream runs on libpulse's own client instead, at
    /// the same rate and channels.
    pub fn open(
        device: &cpal::Device,
        info: &DeviceInfo,
        pulse: bool,
        worker: Thread,
    ) -> Result<Capture> {
        let supported = device::capture_config(device, info.kind)
            .map_err(|err| device::from_cpal(err, &info.name, info.kind))?;
        let rate = supported.sample_rate();
        let channels = supported.channels();
        let capacity = (rate * u32::from(channels) * RING_SECONDS) as usize;
        let (samples_tx, samples) = rtrb::RingBuffer::new(capacity);
        let (ticks_tx, ticks) = rtrb::RingBuffer::new(TIMING_SLOTS);
        let (errors_tx, errors) = mpsc::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let state = CallbackState {
            samples: samples_tx,
            ticks: ticks_tx,
            dropped: dropped.clone(),
            pushed_total: 0,
            worker,
            capacity,
            frame: (rate * u32::from(channels) / 50) as usize,
        };
        let (stream, sample_format) = start(pulse, device, info, &supported, state, errors_tx)
            .map_err(|err| device::from_cpal(err, &info.name, info.kind))?;
        Ok(Capture {
            _stream: stream,
            samples,
            ticks,
            errors,
            dropped,
            rate,
            channels,
            sample_format,
        })
    }
}

/// Starts the stream: libpulse's on a Linux sound server (`pulse`), else cpal's. Also returns
/// the sample format the audio arrives in.
fn start(
    pulse: bool,
    device: &cpal::Device,
    info: &DeviceInfo,
    supported: &cpal::SupportedStreamConfig,
    state: CallbackState,
    errors: mpsc::Sender<cpal::Error>,
) -> std::result::Result<(Stream, cpal::SampleFormat), cpal::Error> {
    #[cfg(target_os = "linux")]
    if pulse {
        let (stream, format) = crate::pulse::open(info, supported, state, errors)?;
        return Ok((Stream::Pulse(stream), format));
    }
    // Elsewhere `pulse` is never true (see `device::is_pulse`).
    let _ = (pulse, info);
    let format = supported.sample_format();
    let stream = build(device, &supported.config(), format, state, errors)?;
    stream.play()?;
    Ok((Stream::Cpal(stream), format))
}

fn build(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    state: CallbackState,
    errors: mpsc::Sender<cpal::Error>,
) -> std::result::Result<cpal::Stream, cpal::Error> {
    use cpal::SampleFormat as F;
    match format {
        F::I8 => typed::<i8>(device, config, state, errors),
        F::I16 => typed::<i16>(device, config, state, errors),
        F::I24 => typed::<cpal::I24>(device, config, state, errors),
        F::I32 => typed::<i32>(device, config, state, errors),
        F::I64 => typed::<i64>(device, config, state, errors),
        F::U8 => typed::<u8>(device, config, state, errors),
        F::U16 => typed::<u16>(device, config, state, errors),
        F::U24 => typed::<cpal::U24>(device, config, state, errors),
        F::U32 => typed::<u32>(device, config, state, errors),
        F::U64 => typed::<u64>(device, config, state, errors),
        F::F32 => typed::<f32>(device, config, state, errors),
        F::F64 => typed::<f64>(device, config, state, errors),
        other => Err(cpal::Error::with_message(
            cpal::ErrorKind::UnsupportedConfig,
            format!("sample format {other} is not PCM"),
        )),
    }
}

fn typed<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut state: CallbackState,
    errors: mpsc::Sender<cpal::Error>,
) -> std::result::Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let waker = state.worker.clone();
    device.build_input_stream::<T, _, _>(
        *config,
        move |data: &[T], _: &cpal::InputCallbackInfo| state.push(data),
        move |err| {
            let _ = errors.send(err);
            waker.unpark();
        },
        None,
    )
}

/// Whether an error from a running stream means it has to be opened again.
pub(crate) fn is_fatal(err: &cpal::Error) -> bool {
    !matches!(
        err.kind(),
        cpal::ErrorKind::Xrun | cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied
    )
}

/// A human sentence for a running stream's error.
pub(crate) fn describe_error(err: &cpal::Error, info: &DeviceInfo) -> AudioError {
    device::from_cpal(err.clone(), &info.name, info.kind)
}
