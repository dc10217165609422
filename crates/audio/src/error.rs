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
    /// No capture device (or no sound server) is there to open.
    #[error("no {what} found: {fix}")]
    NoDevice {
        /// "microphone" or "system audio source".
        what: &'static str,
        /// What the user can do.
        fix: String,
    },
    /// The device chosen by id is not connected.
    #[error(
        "audio device {id} is not connected; plug it back in, or pick another (on the app's record screen, or from `hark devices`)"
    )]
    DeviceGone {
        /// The id that was asked for.
        id: String,
    },
    /// The operating system refused access to the device.
    #[error("access to {device} was denied: {fix}")]
    PermissionDenied {
        /// The device's name.
        device: String,
        /// The OS-specific fix.
        fix: &'static str,
    },
    /// Another program holds the device exclusively.
    #[error(
        "{device} is busy (another program is using it exclusively); close that program or pick another device"
    )]
    DeviceBusy {
        /// The device's name.
        device: String,
    },
    /// The device cannot deliver any format we can open.
    #[error("{device} does not support a usable capture format ({detail}); pick another device")]
    UnsupportedFormat {
        /// The device's name.
        device: String,
        /// cpal's explanation.
        detail: String,
    },
    /// System audio cannot be captured on this system.
    #[error("system audio cannot be captured here: {reason}")]
    SystemAudioUnavailable {
        /// Why, and what to do.
        reason: String,
    },
    /// Any other failure from the audio backend.
    #[error("capture from {device} failed: {message}")]
    Capture {
        /// The device's name.
        device: String,
        /// The backend's explanation.
        message: String,
    },
    /// Playing a recording back failed.
    #[error("cannot play the recording through {device}: {problem}; {fix}")]
    Playback {
        /// The output device's name.
        device: String,
        /// What went wrong.
        problem: String,
        /// What the user can do.
        fix: &'static str,
    },
    /// A background thread could not be started.
    #[error("cannot start the audio worker thread: {0}")]
    Thread(#[source] std::io::Error),
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
