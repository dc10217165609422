//! Hark's audio engine, device-free core: any PCM layout in, mono 48 kHz 20 ms frames out
//! (downmix, `rubato` resampling, exact framing), level metering, Opus encoding with RTP
//! timestamps, and the crash-safe Ogg/Opus recording file (written before anything is sent,
//! flushed every second, recoverable after a crash). Capture from devices and native playback
//! of recordings build on this.

mod capture;
pub mod device;
pub mod dsp;
pub mod encoder;
pub mod engine;
pub mod error;
pub mod playback;
#[cfg(target_os = "linux")]
mod pulse;
pub mod recording;

pub use device::{DeviceChoice, DeviceInfo, SourceKind, list_devices};
pub use engine::{Engine, EngineConfig, Event, Frame, Output, SourceSpec, SourceStats};
pub use error::{AudioError, Result};
pub use playback::{PlaybackStatus, Player};

/// The engine's sample rate.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 960;
