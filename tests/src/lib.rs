//! Hark's test harness: the OpenAI Realtime emulator, DTMF fixtures, and a webrtc-rs caller
//! that tests use to talk to the emulator (or, later, to the proxy) without product code.

pub mod audio_files;
pub mod auth_standin;
pub mod bench;
pub mod caller;
pub mod dtmf;
pub mod emulator;
pub mod peer;
pub mod ports;
pub mod serve;
pub mod supabase;

/// A loopback port for a server to listen on soon (see [`ports::free_port`]).
pub fn free_port() -> u16 {
    ports::free_port().expect("a free port in 15000-24999")
}

/// An HTTP client for tests. The workspace's reqwest is built without a bundled TLS provider
/// (the proxy installs ring's), so the provider is installed here before any client exists.
pub fn http() -> reqwest::Client {
    http_builder().build().expect("an HTTP client")
}

/// A client builder for tests that need options (redirects, timeouts).
pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
