//! The one error the UI sees: a kind it can branch on and a message that names the problem and
//! the fix. Internal errors are turned into it here, never passed through verbatim.

use hark_recorder::RecorderError;
use serde::Serialize;

/// Result alias for commands.
pub type Result<T, E = UiError> = std::result::Result<T, E>;

/// An error for the UI.
#[derive(Debug, Clone, Serialize, specta::Type, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UiError {
    /// A request that makes no sense now (nothing recording, already recording, empty title).
    #[error("{message}")]
    Invalid {
        /// What and what to do.
        message: String,
    },
    /// The settings are missing or wrong.
    #[error("{message}")]
    Config {
        /// What and what to do.
        message: String,
    },
    /// No audio can be recorded (no device, no permission).
    #[error("{message}")]
    Audio {
        /// What and what to do.
        message: String,
    },
    /// The local database failed.
    #[error("{message}")]
    Store {
        /// What and what to do.
        message: String,
    },
    /// Checking for, downloading or installing an update failed.
    #[error("{message}")]
    Update {
        /// What and what to do.
        message: String,
    },
    /// The organisation's project (sign-in, sync) failed.
    #[error("{message}")]
    Cloud {
        /// What and what to do.
        message: String,
    },
    /// The transcription service, through the Hark proxy, failed.
    #[error("{message}")]
    Transcription {
        /// What and what to do.
        message: String,
    },
}

impl From<RecorderError> for UiError {
    fn from(err: RecorderError) -> UiError {
        let message = err.to_string();
        match err {
            RecorderError::Invalid(_) => UiError::Invalid { message },
            RecorderError::Config(_) => UiError::Config { message },
            RecorderError::Audio(_) => UiError::Audio { message },
            // What the recruiter asked for, not the database failing.
            RecorderError::Store(
                hark_store::StoreError::NotFound { .. }
                | hark_store::StoreError::Ambiguous { .. }
                | hark_store::StoreError::ElsewhereInterview { .. }
                | hark_store::StoreError::Invalid { .. },
            ) => UiError::Invalid { message },
            RecorderError::Store(_) | RecorderError::StoreGone => UiError::Store { message },
            RecorderError::Cloud(_) => UiError::Cloud { message },
            RecorderError::Transcription(_) => UiError::Transcription { message },
        }
    }
}

impl From<hark_store::StoreError> for UiError {
    fn from(err: hark_store::StoreError) -> UiError {
        RecorderError::from(err).into()
    }
}

impl From<hark_audio::AudioError> for UiError {
    fn from(err: hark_audio::AudioError) -> UiError {
        RecorderError::from(err).into()
    }
}
