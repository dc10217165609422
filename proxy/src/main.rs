//! `hark-proxy`: serves the SDP proxy. Configuration comes from the environment (see
//! proxy/README.md); `--dev` runs without Supabase on loopback for local use.

use clap::Parser;

/// Hark's SDP proxy.
#[derive(Debug, Parser)]
#[command(name = "hark-proxy", version)]
struct Args {
    /// Local development: no Supabase, no user tokens, a fixed policy; loopback only.
    #[arg(long)]
    dev: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json")
        || std::env::var_os("FLY_APP_NAME").is_some()
    {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let config = hark_proxy::Config::from_vars(|name| std::env::var(name).ok(), args.dev)?;
    let state = hark_proxy::state_from_config(&config)?;
    if let Some(verifier) = &state.verifier
        && let Err(err) = verifier.refresh().await
    {
        // Not fatal: /readyz reports it and the keys are fetched on the first request.
        tracing::warn!(error = %err, "signing keys not fetched yet");
    }
    let listener = tokio::net::TcpListener::bind((config.bind, config.port))
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot listen on {}:{} ({err}); set PORT or BIND_ADDRESS",
                config.bind,
                config.port
            )
        })?;
    tracing::info!(addr = %listener.local_addr()?, dev = args.dev, "hark-proxy listening");
    axum::serve(listener, hark_proxy::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("hark-proxy stopped");
    Ok(())
}

/// SIGTERM (what Fly sends) or Ctrl-C: stop accepting, finish in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Windows has no SIGTERM; there Ctrl-C alone stops a proxy run by hand.
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
