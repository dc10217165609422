//! Hark's cross-crate integration tests, one module per feature (see tests/README.md).

// The OpenAI Realtime emulator over WebRTC: transcripts, turn modes, session updates, faults.
mod emulator_calls;
// Deployment files agree with the proxy: fly.toml, proxy/Dockerfile, the health route.
mod deploy;
// The emulator's REST surface: keys, client secrets, call forms, batch transcription, errors.
mod emulator_http;
// The Supabase Auth stand-in through the gateway: grants, rotation, logout, OTP, PKCE.
mod auth_standin;
// The SDP proxy: caller → proxy → emulator with real Supabase policy; tokens, refusals, upstream.
mod proxy;
// The Supabase backend over HTTP: tenant isolation, idempotent sync, bad payloads, the call race.
mod supabase_http;
// The product's realtime client through the proxy to the emulator: transcript, hang-up, refusals.
mod realtime_client;
// The recorder: virtual microphone → engine → client → proxy → emulator → SQLite; exports; offline.
mod recorder;
// The organisation: every sign-in method, keyring, CLI recording synced and read back, faults,
// a recording outliving its access token.
mod cloud;
// The desktop app in a real WebKit window under Xvfb, driven through WebDriver (tauri-driver).
mod desktop;
// A release feed with signed releases, for the desktop app's updates.
mod release_feed;
// The audio crate's test helpers: the PulseAudio virtual microphone, scratch folders.
#[path = "../../crates/audio/tests/support/mod.rs"]
mod audio_support;
// Helpers shared by the modules above.
mod support;
