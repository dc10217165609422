//! Hark's SDP proxy: the only holder of the OpenAI key. It verifies the caller's Supabase token,
//! admits the call under the organisation's policy (through PostgREST, so any number of proxies
//! agree), validates the WebRTC offer, creates a transcription call at OpenAI, and returns
//! OpenAI's answer. Media never passes through it.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod offer;
pub mod policy;
pub mod upstream;

use std::future::Future;
use std::sync::Arc;

pub use api::{AppState, app};
pub use config::Config;
pub use error::{AppError, Result};

/// Serves the proxy on `listener` until `shutdown` resolves; then stops accepting connections and
/// returns once the requests in flight have been answered (Fly sends SIGTERM before a machine
/// stops).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The HTTP client for upstream calls (rustls with the ring provider, as the rest of Hark).
pub fn http_client() -> Result<reqwest::Client> {
    // Installing twice is harmless; it fails only when a provider is already set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("hark-proxy/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|err| AppError::Config(format!("cannot build the HTTP client: {err}")))
}

/// Builds the proxy's state from its configuration.
pub fn state_from_config(config: &Config) -> Result<Arc<AppState>> {
    let http = http_client()?;
    let (verifier, policy) = match &config.supabase {
        Some(supabase) => {
            let rest = postgrest::Postgrest::new(format!("{}/rest/v1", supabase.url))
                .insert_header("apikey", &supabase.anon_key);
            (
                Some(auth::Verifier::new(http.clone(), supabase)),
                policy::PolicySource::Supabase(rest),
            )
        }
        // `--dev`: a fixed policy; tokens are checked only when a signing secret is given.
        None => {
            let verifier = config.dev_jwt_secret.as_ref().map(|secret| {
                auth::Verifier::new(
                    http.clone(),
                    &config::SupabaseConfig {
                        url: String::new(),
                        anon_key: String::new(),
                        jwks_url: String::new(),
                        issuer: config.dev_jwt_issuer.clone(),
                        jwt_secret: Some(secret.clone()),
                    },
                )
            });
            (
                verifier,
                policy::PolicySource::Dev(config.dev_policy.clone()),
            )
        }
    };
    let upstream = upstream::OpenAi::new(
        http,
        config.openai_base_url.clone(),
        config.openai_api_key.clone(),
        config.call_form,
        config.upstream_timeout,
    );
    let limits = api::RateLimits {
        per_user: config.rate_limit_per_user,
        per_org: config.rate_limit_per_org,
        global: config.rate_limit_global,
    };
    Ok(Arc::new(AppState::new(
        verifier,
        policy,
        Arc::new(upstream),
        limits,
    )))
}
