//! Hark's test harness: the OpenAI Realtime emulator, DTMF fixtures, and a webrtc-rs caller
//! that tests use to talk to the emulator (or, later, to the proxy) without product code.

pub mod audio_files;
pub mod auth_standin;
pub mod bench;
pub mod caller;
pub mod dtmf;
pub mod emulator;
pub mod peer;
pub mod serve;
pub mod supabase;

/// A port nothing listens on right now, for a server to listen on soon: drawn from 15000-24999,
/// below Linux's ephemeral range, so no outgoing connection can take it meanwhile (one once
/// took postrust's, which then could not start), and never the same twice in a run.
pub fn free_port() -> u16 {
    use rand::Rng;
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rng = rand::rng();
    let port = std::iter::repeat_with(|| rng.random_range(15_000..25_000))
        .take(1_000)
        .find(|port| {
            !handed_out.contains(port) && std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()
        })
        .expect("a free port in 15000-24999");
    handed_out.push(port);
    port
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
