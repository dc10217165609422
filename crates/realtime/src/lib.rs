//! Hark's realtime client: a call to OpenAI's Realtime API over WebRTC, set up through Hark's
//! proxy ([`client`]), and the assembler that turns its events into an ordered transcript on
//! the recording's timeline ([`transcript`]), client-side turn detection for models that
//! need it ([`turns`]), and batch transcription of audio a call missed ([`batch`]).

pub mod batch;
pub mod client;
pub mod error;
pub mod transcript;
pub mod turns;

pub use batch::{Transcribe, transcribe};
pub use client::{Call, CallEvent, Dial, Timings};
pub use error::{RealtimeError, Result};
pub use transcript::{Assembler, Item, ItemState, Update};
pub use turns::TurnDetector;
