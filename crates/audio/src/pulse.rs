//! Capture from a PulseAudio or PipeWire-pulse source through libpulse's own client: one thread
//! runs a private main loop, takes each fragment the server sends and pushes it into the capture
//! ring, as a cpal callback would.
//!
//! Why not cpal's PulseAudio host: its pure-Rust client zero-fills a fresh 1 MiB read buffer
//! before every socket read, which costs several percent of a core when another program keeps
//! the same source at a few milliseconds' latency (a call app on the shared microphone).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libpulse_binding as pa;
use pa::callbacks::ListResult;
use pa::channelmap::{Map, MapDef};
use pa::context::{Context, FlagSet as ContextFlags, State as ContextState};
use pa::error::{Code, PAErr};
use pa::mainloop::standard::Mainloop;
use pa::stream::{FlagSet as StreamFlags, PeekResult, State as StreamState, Stream};

use cpal::Sample;

use crate::capture::{CallbackState, PULSE_FRAGMENT};
use crate::device::DeviceInfo;

/// The longest the thread waits on the server's socket before it looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// How long connecting to the server and starting the stream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// A running record stream; dropping it stops the stream and closes the connection (within
/// [`STOP_CHECK`]).
pub(crate) struct PulseStream {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for PulseStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How samples travel from the server: the source's own format where it is 8-, 16- or 32-bit
/// integer or f32 (with its own channel layout, nothing is converted on the way), else f32.
#[derive(Debug, Clone, Copy)]
enum Wire {
    U8,
    I16,
    I32,
    F32,
}

impl Wire {
    fn for_source(format: cpal::SampleFormat) -> Wire {
        match format {
            cpal::SampleFormat::U8 => Wire::U8,
            cpal::SampleFormat::I16 => Wire::I16,
            cpal::SampleFormat::I32 => Wire::I32,
            _ => Wire::F32,
        }
    }

    fn pulse(self) -> pa::sample::Format {
        match self {
            Wire::U8 => pa::sample::Format::U8,
            Wire::I16 => pa::sample::Format::S16NE,
            Wire::I32 => pa::sample::Format::S32NE,
            Wire::F32 => pa::sample::Format::FLOAT32NE,
        }
    }

    fn cpal(self) -> cpal::SampleFormat {
        match self {
            Wire::U8 => cpal::SampleFormat::U8,
            Wire::I16 => cpal::SampleFormat::I16,
            Wire::I32 => cpal::SampleFormat::I32,
            Wire::F32 => cpal::SampleFormat::F32,
        }
    }

    /// Converts whole samples of `bytes` to f32 (as cpal would) and pushes them.
    fn push(self, bytes: &[u8], state: &mut CallbackState) {
        match self {
            Wire::U8 => state.push_samples(bytes.iter().map(|&b| b.to_sample::<f32>())),
            Wire::I16 => state.push_samples(
                bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_ne_bytes([b[0], b[1]]).to_sample::<f32>()),
            ),
            Wire::I32 => state.push_samples(
                bytes
                    .chunks_exact(4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).to_sample::<f32>()),
            ),
            Wire::F32 => state.push_samples(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            ),
        }
    }
}

/// Connects to the sound server and records the source that cpal's PulseAudio host listed as
/// `info`, at `config`'s rate and channels, in its own sample format where possible; returns
/// once audio flows (or [`CONNECT_TIMEOUT`] has passed: the engine reports a device that never
/// delivers). Stream errors after that go to `errors` (and wake the worker). Also returns the
/// sample format the audio arrives in.
pub(crate) fn open(
    info: &DeviceInfo,
    config: &cpal::SupportedStreamConfig,
    mut state: CallbackState,
    errors: mpsc::Sender<cpal::Error>,
) -> Result<(PulseStream, cpal::SampleFormat), cpal::Error> {
    let source = info.id.strip_prefix("pulseaudio:").unwrap_or(&info.id);
    let (rate, channels, format) = (
        config.sample_rate(),
        config.channels(),
        config.sample_format(),
    );
    let wire = Wire::for_source(format);
    let spec = pa::sample::Spec {
        format: wire.pulse(),
        channels: u8::try_from(channels).unwrap_or(u8::MAX),
        rate,
    };
    if !spec.is_valid() {
        return Err(cpal::Error::with_message(
            cpal::ErrorKind::UnsupportedConfig,
            format!("the sound server cannot record {channels} channels at {rate} Hz"),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready) = mpsc::channel();
    let source = source.to_string();
    let thread = std::thread::Builder::new()
        .name("hark-audio-pulse".into())
        .spawn({
            let stop = stop.clone();
            move || {
                let started = Session::connect(&source, &spec).and_then(|mut session| {
                    session.first_audio(wire, &mut state)?;
                    Ok(session)
                });
                match started {
                    Ok(session) => {
                        let _ = ready_tx.send(Ok(()));
                        session.run(wire, state, &errors, &stop);
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                }
            }
        })
        .map_err(|err| {
            cpal::Error::with_message(
                cpal::ErrorKind::ResourceExhausted,
                format!("cannot start the capture thread: {err}"),
            )
        })?;
    let mut stream = PulseStream {
        stop,
        thread: Some(thread),
    };
    match ready.recv() {
        Ok(Ok(())) => Ok((stream, wire.cpal())),
        Ok(Err(err)) => Err(err),
        Err(_) => {
            stream.thread.take();
            Err(cpal::Error::with_message(
                cpal::ErrorKind::BackendError,
                "the capture thread stopped while connecting to the sound server",
            ))
        }
    }
}

/// One connection with its record stream, owned by the capture thread. Fields drop in order:
/// the stream before its context, the context before the main loop.
struct Session {
    stream: Stream,
    context: Context,
    mainloop: Mainloop,
    /// When connecting and waiting for the first audio give up.
    deadline: Instant,
}

impl Session {
    fn connect(source: &str, spec: &pa::sample::Spec) -> Result<Session, cpal::Error> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut mainloop = Mainloop::new().ok_or_else(|| {
            cpal::Error::with_message(
                cpal::ErrorKind::BackendError,
                "libpulse could not create a main loop",
            )
        })?;
        let mut context = Context::new(&mainloop, "Hark").ok_or_else(|| {
            cpal::Error::with_message(
                cpal::ErrorKind::BackendError,
                "libpulse could not create a context",
            )
        })?;
        context
            .connect(None, ContextFlags::NOAUTOSPAWN, None)
            .map_err(|_| server_error("cannot connect to the sound server", &context))?;
        loop {
            match context.get_state() {
                ContextState::Ready => break,
                ContextState::Failed | ContextState::Terminated => {
                    return Err(server_error("cannot connect to the sound server", &context));
                }
                _ => turn(&mut mainloop, remaining(deadline)?)?,
            }
        }
        let map = source_map(&mut mainloop, &context, source, spec.channels, deadline)?;
        let mut stream = Stream::new(&mut context, "Hark recording", spec, Some(&map))
            .ok_or_else(|| server_error("cannot create a record stream", &context))?;
        let fragment =
            spec.usec_to_bytes(pa::time::MicroSeconds(PULSE_FRAGMENT.as_micros() as u64));
        let attr = pa::def::BufferAttr {
            maxlength: u32::MAX,
            tlength: u32::MAX,
            prebuf: u32::MAX,
            minreq: u32::MAX,
            fragsize: u32::try_from(fragment).unwrap_or(u32::MAX),
        };
        // The server sets the source's latency to the fragment (when nothing else needs it
        // lower) and never moves the stream: a source that goes away ends it, and the engine
        // picks the next device itself.
        stream
            .connect_record(
                Some(source),
                Some(&attr),
                StreamFlags::ADJUST_LATENCY | StreamFlags::DONT_MOVE,
            )
            .map_err(|_| server_error(&format!("cannot record {source}"), &context))?;
        loop {
            match stream.get_state() {
                StreamState::Ready => break,
                StreamState::Failed | StreamState::Terminated => {
                    return Err(server_error(&format!("cannot record {source}"), &context));
                }
                _ => turn(&mut mainloop, remaining(deadline)?)?,
            }
        }
        Ok(Session {
            stream,
            context,
            mainloop,
            deadline,
        })
    }

    /// Waits for the first audio: a source waking from idle can take a second or more, and the
    /// recording's timeline should start with its audio, not with silence put in for the wait.
    fn first_audio(&mut self, wire: Wire, state: &mut CallbackState) -> Result<(), cpal::Error> {
        while state.pushed() == 0 {
            let Ok(wait) = remaining(self.deadline) else {
                break;
            };
            turn(&mut self.mainloop, wait.min(STOP_CHECK))?;
            self.take(wire, state)?;
        }
        Ok(())
    }

    /// Moves audio from the server into the ring until `stop` is set or the stream ends.
    fn run(
        mut self,
        wire: Wire,
        mut state: CallbackState,
        errors: &mpsc::Sender<cpal::Error>,
        stop: &AtomicBool,
    ) {
        while !stop.load(Ordering::SeqCst) {
            let outcome =
                turn(&mut self.mainloop, STOP_CHECK).and_then(|()| self.take(wire, &mut state));
            if let Err(err) = outcome {
                let _ = errors.send(err);
                state.wake();
                break;
            }
        }
        let _ = self.stream.disconnect();
        self.context.disconnect();
    }

    /// Pushes every fragment the server has delivered; an error once the stream has ended.
    fn take(&mut self, wire: Wire, state: &mut CallbackState) -> Result<(), cpal::Error> {
        match self.stream.get_state() {
            StreamState::Ready => {}
            StreamState::Failed | StreamState::Terminated => {
                return Err(cpal::Error::with_message(
                    cpal::ErrorKind::DeviceNotAvailable,
                    format!(
                        "the sound server ended the recording: {}",
                        describe(context_code(&self.context))
                    ),
                ));
            }
            _ => return Ok(()),
        }
        let mut got = false;
        loop {
            match self.stream.peek() {
                Ok(PeekResult::Data(bytes)) => {
                    wire.push(bytes, state);
                    got = true;
                }
                // Audio the server lost: the engine fills the gap on wall time.
                Ok(PeekResult::Hole(_)) => {}
                Ok(PeekResult::Empty) => break,
                Err(_) => return Err(server_error("cannot read the recording", &self.context)),
            }
            self.stream
                .discard()
                .map_err(|_| server_error("cannot read the recording", &self.context))?;
        }
        if got {
            state.tick();
        }
        Ok(())
    }
}

/// What is left until `deadline`; an error once it has passed.
fn remaining(deadline: Instant) -> Result<Duration, cpal::Error> {
    let wait = deadline.saturating_duration_since(Instant::now());
    if wait.is_zero() {
        return Err(cpal::Error::with_message(
            cpal::ErrorKind::BackendError,
            format!(
                "the sound server did not answer within {CONNECT_TIMEOUT:?}; restart it (or log \
                 out and in again)"
            ),
        ));
    }
    Ok(wait)
}

/// One main-loop iteration that waits on the server's socket for `wait` at most.
fn turn(mainloop: &mut Mainloop, wait: Duration) -> Result<(), cpal::Error> {
    let broken = |err: PAErr| {
        cpal::Error::with_message(
            cpal::ErrorKind::BackendError,
            format!(
                "the connection to the sound server broke: {}",
                describe(err)
            ),
        )
    };
    mainloop
        .prepare(Some(pa::time::MicroSeconds(wait.as_micros() as u64)))
        .map_err(broken)?;
    mainloop.poll().map_err(broken)?;
    mainloop.dispatch().map_err(broken)?;
    Ok(())
}

/// The source's own channel layout, so the server hands its channels over as they are; a
/// source that is not there (unplugged since it was listed) is an error here.
fn source_map(
    mainloop: &mut Mainloop,
    context: &Context,
    source: &str,
    channels: u8,
    deadline: Instant,
) -> Result<Map, cpal::Error> {
    // `None` while the answer is pending, then the source's map if it was found.
    let answer: Rc<RefCell<Option<Option<Map>>>> = Rc::new(RefCell::new(None));
    let _query = context.introspect().get_source_info_by_name(source, {
        let answer = answer.clone();
        move |item| {
            let mut answer = answer.borrow_mut();
            match item {
                ListResult::Item(info) => *answer = Some(Some(info.channel_map)),
                ListResult::End | ListResult::Error => {
                    answer.get_or_insert(None);
                }
            }
        }
    });
    loop {
        if let Some(found) = *answer.borrow() {
            return match found {
                Some(map) if map.get().len() == usize::from(channels) && map.is_valid() => Ok(map),
                // A layout changed since listing: the server's usual one for that many channels.
                Some(_) => Ok(*Map::default().init_extend(channels, MapDef::AIFF)),
                None => Err(cpal::Error::with_message(
                    cpal::ErrorKind::DeviceNotAvailable,
                    format!("the sound server has no source {source} any more"),
                )),
            };
        }
        turn(mainloop, remaining(deadline)?)?;
    }
}

/// The context's last error. `pa_context_errno` gives the code positive, while calls return it
/// negative; this gives it as calls do, which is what [`Code`] and `pa_strerror` expect.
fn context_code(context: &Context) -> PAErr {
    PAErr(-context.errno().0.abs())
}

fn describe(err: PAErr) -> String {
    err.to_string()
        .unwrap_or_else(|| format!("error {}", err.0))
}

/// The context's last error as a cpal error of the kind that [`crate::device::from_cpal`]
/// turns into the right advice.
fn server_error(what: &str, context: &Context) -> cpal::Error {
    use cpal::ErrorKind as K;
    let err = context_code(context);
    let kind = match Code::try_from(err) {
        Ok(Code::Access | Code::AuthKey) => K::PermissionDenied,
        Ok(Code::ConnectionRefused | Code::InvalidServer | Code::ConnectionTerminated) => {
            K::HostUnavailable
        }
        Ok(Code::NoEntity | Code::Killed) => K::DeviceNotAvailable,
        Ok(Code::Busy) => K::DeviceBusy,
        Ok(Code::NotSupported | Code::Invalid) => K::UnsupportedConfig,
        _ => K::BackendError,
    };
    cpal::Error::with_message(kind, format!("{what}: {}", describe(err)))
}
