//! `supabase-auth-standin`: the Supabase Auth (GoTrue) stand-in as a server, for the test stack.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use hark_tests::auth_standin::{AuthConfig, AuthStandin};

/// Serves the GoTrue endpoints Hark uses, issuing ES256 tokens; see tests/README.md.
#[derive(Debug, Parser)]
#[command(name = "supabase-auth-standin", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// Token issuer: the project's `<SUPABASE_URL>/auth/v1`.
    #[arg(long)]
    issuer: String,
    /// The database holding `auth.users`.
    #[arg(long, env = "HARK_TEST_DATABASE_URL")]
    database_url: String,
    /// Legacy HS256 secret the anon and service keys are signed with.
    #[arg(long, env = "HARK_TEST_JWT_SECRET")]
    jwt_secret: String,
    /// Where disallowed redirects go.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    site_url: String,
    /// Access-token lifetime, seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl: u64,
    /// Write the API keys here as JSON, then serve.
    #[arg(long)]
    keys_out: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let standin = AuthStandin::start(AuthConfig {
        listen: args.listen,
        issuer: args.issuer,
        database_url: args.database_url,
        jwt_secret: args.jwt_secret,
        site_url: args.site_url,
        access_token_ttl: Duration::from_secs(args.access_token_ttl),
    })
    .await?;
    if let Some(path) = args.keys_out {
        std::fs::write(&path, serde_json::to_vec(&standin.keys)?)?;
    }
    println!(
        "Supabase Auth stand-in listening on http://{}",
        standin.addr
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
