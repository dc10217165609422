//! Hark's recorder: the one API the desktop shell and the `hark` CLI share — record (audio
//! engine → recording file → realtime calls through the proxy → transcript in SQLite), list,
//! search, show and export sessions, transcribe afterwards what the live transcript missed, sign
//! in and sync with the organisation — and the configuration both read.

pub mod backfill;
pub mod cloud;
pub mod config;
pub mod data_folder;
pub mod error;
pub mod export;
pub mod links;
pub mod recorder;
pub mod recovery;
pub mod store_thread;
pub mod studio;
pub mod vad;

pub use cloud::{AccountStatus, Cloud};
pub use config::Config;
pub use error::{RecorderError, Result};
pub use recorder::{Recorder, RecorderEvent, Recording, StartOptions, StopSummary, Token};
pub use recovery::Interrupted;
pub use studio::{Active, Studio};
