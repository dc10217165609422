//! Loopback ports for test services, shared by the test harness and `cargo xtask stack`.

use rand::Rng;

/// A port nothing listens on right now, for a server to listen on soon: drawn from 15000-24999,
/// below Linux's ephemeral range, so no outgoing connection can take it meanwhile (one once
/// took postrust's, which then could not start), and never the same twice in a process; `None`
/// if a thousand draws found none free.
pub fn free_port() -> Option<u16> {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rng = rand::rng();
    let port = std::iter::repeat_with(|| rng.random_range(15_000..25_000))
        .take(1_000)
        .find(|port| {
            !handed_out.contains(port) && std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()
        })?;
    handed_out.push(port);
    Some(port)
}
