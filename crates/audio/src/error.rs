//! The audio crate's one error type.

/// Result alias for this crate.
pub type Result<T, E = AudioError> = std::result::Result<T, E>;

/// What can go wrong in the audio core.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The resampler could not be built or run.
    #[error("resampling from {from_hz} Hz failed: {message}")]
    Resample {
        /// Input rate.
        from_hz: u32,
        /// rubato's explanation.
        message: String,
    },
    /// libopus refused.
    #[error("Opus {step} failed: {source}")]
    Opus {
        /// What was being done.
        step: &'static str,
        /// libopus's error.
        #[source]
        source: opus::Error,
    },
    /// Reading or writing the recording file failed.
    #[error("recording file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The recording file is not a readable Ogg/Opus file.
    #[error(
        "recording file {path} is not readable Ogg/Opus ({problem}); run recovery on it, or keep it for support"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}
