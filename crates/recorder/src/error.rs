//! The recorder's one error type.

/// Result alias for this crate.
pub type Result<T, E = RecorderError> = std::result::Result<T, E>;

/// What can go wrong in the recorder.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A setting is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The audio engine failed.
    #[error(transparent)]
    Audio(#[from] hark_audio::AudioError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] hark_store::StoreError),
    /// The store's thread is gone (the recorder is shutting down).
    #[error("the local database thread stopped; restart Hark (nothing recorded so far is lost)")]
    StoreGone,
    /// The organisation's project (sign-in, sync) failed.
    #[error(transparent)]
    Cloud(#[from] hark_cloud::CloudError),
    /// The proxy could not transcribe (back-fill).
    #[error(transparent)]
    Transcription(#[from] hark_realtime::RealtimeError),
    /// A request that makes no sense now.
    #[error("{0}")]
    Invalid(String),
}
