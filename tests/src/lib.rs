//! Hark's test harness: the OpenAI Realtime emulator, DTMF fixtures, and a webrtc-rs caller
//! that tests use to talk to the emulator (or, later, to the proxy) without product code.

pub mod auth_standin;
pub mod caller;
pub mod dtmf;
pub mod emulator;
pub mod peer;
pub mod supabase;
