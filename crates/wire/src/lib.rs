//! Wire types shared by the Hark desktop app, the SDP proxy and the OpenAI Realtime emulator
//! (and the proxy's own `/v1/sessions` shapes, in [`proxy`]).
//!
//! Everything here is plain data: serde shapes of OpenAI's Realtime API (session configuration,
//! data-channel events, the REST bodies around call creation and batch transcription) plus the
//! few rules about them that every side must agree on (which models take server VAD, how a call
//! id is read from `Location`). No I/O lives in this crate.
//!
//! Decoding is tolerant where OpenAI may grow the protocol: an event type we do not know becomes
//! [`realtime::ServerEvent::Unknown`] and extra fields are ignored (or kept, on session objects),
//! so a new server event never breaks a running interview. A known event whose fields do not
//! match the documented shape is an error that names the event and the field.

pub mod error;
pub mod proxy;
pub mod realtime;
pub mod rest;

pub use error::{Result, WireError};
