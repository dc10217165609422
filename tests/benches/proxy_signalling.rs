//! Benchmark: what the SDP proxy adds to call signalling, side by side with a minimal
//! Node.js/Express forwarder doing the same work (verify an HS256 token, mint a client secret,
//! create the call, answer), both in front of the same instant upstream on loopback. The
//! upstream here answers with a fixed SDP at once, so the figures are the forwarders' own cost.
//! Needs `cargo build --release -p hark-proxy` and Node.js (npm installs the baseline's two
//! packages into benches/node-forwarder on first use).

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
const OFFER: &str = "v=0\r\no=- 123 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
a=fingerprint:sha-256 CA:92:52:51:B4:91:3B:34:DD:9C:0B:FB:76:19:7E:3B:F1:21:0F:32:2C:38:01:72:5D:3F:78:C7:5F:8B:C7:36\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=setup:actpass\r\na=rtcp-mux\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\na=sctp-port:5000\r\n";
const ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vm_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn wait_for(port: u16) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("nothing listens on {port}")
}

/// The instant upstream: OpenAI's two calls, answered at once.
async fn upstream() -> u16 {
    let app = Router::new()
        .route("/v1/realtime/client_secrets", post(|| async { Json(json!({"value": "ek_bench", "expires_at": 4_102_444_800u64, "session": {"type": "transcription"}})) }))
        .route("/v1/realtime/calls", post(|| async {
            (StatusCode::CREATED, [(header::LOCATION, "/v1/realtime/calls/rtc_bench"), (header::CONTENT_TYPE, "application/sdp")], ANSWER).into_response()
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn one_session(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({"sdp": OFFER, "interview_id": "00000000-0000-4000-8000-000000000001", "source": "microphone"}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "HTTP {}: {}",
        response.status(),
        response.text().await?
    );
    let _ = response.bytes().await?;
    Ok(())
}

/// The two upstream requests made directly: the latency floor a forwarder adds to.
async fn direct(client: &reqwest::Client, upstream: &str) -> anyhow::Result<()> {
    let minted = client
        .post(format!("{upstream}/realtime/client_secrets"))
        .bearer_auth("sk")
        .json(&json!({"session": {"type": "transcription"}}))
        .send()
        .await?;
    let _ = minted.bytes().await?;
    let call = client
        .post(format!("{upstream}/realtime/calls"))
        .bearer_auth("ek_bench")
        .header(header::CONTENT_TYPE, "application/sdp")
        .body(OFFER)
        .send()
        .await?;
    anyhow::ensure!(call.status() == 201);
    let _ = call.bytes().await?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latencies<F, Fut>(n: usize, mut request: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..200 {
        request().await?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        request().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

async fn throughput(
    url: Arc<String>,
    token: Arc<String>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (url, token) = (url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let client = hark_tests::http();
            let mut done = 0u64;
            while Instant::now() < deadline {
                one_session(&client, &url, &token).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / duration.as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let proxy_bin = target.join("release/hark-proxy");
    anyhow::ensure!(
        proxy_bin.is_file(),
        "{} is missing: run `cargo build --release -p hark-proxy` first",
        proxy_bin.display()
    );
    let node_dir = root.join("tests/benches/node-forwarder");
    if !node_dir.join("node_modules/express").is_dir() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&node_dir)
            .status()?;
        anyhow::ensure!(
            status.success(),
            "npm install failed in {}",
            node_dir.display()
        );
    }
    let upstream_port = upstream().await;
    let upstream_url = format!("http://127.0.0.1:{upstream_port}/v1");
    let (proxy_port, node_port) = (hark_tests::free_port(), hark_tests::free_port());
    let proxy = Killed(
        Command::new(&proxy_bin)
            .arg("--dev")
            .envs([
                ("OPENAI_API_KEY", "sk-bench"),
                ("OPENAI_BASE_URL", upstream_url.as_str()),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("RUST_LOG", "warn"),
                ("RATE_LIMIT_PER_USER_PER_MINUTE", "1000000000"),
                ("RATE_LIMIT_PER_MINUTE", "1000000000"),
            ])
            .env("PORT", proxy_port.to_string())
            .stdout(Stdio::null())
            .spawn()?,
    );
    let node = Killed(
        Command::new("node")
            .arg("server.js")
            .current_dir(&node_dir)
            .envs([
                ("UPSTREAM", upstream_url.as_str()),
                ("API_KEY", "sk-bench"),
                ("JWT_SECRET", SECRET),
            ])
            .env("PORT", node_port.to_string())
            .stdout(Stdio::null())
            .spawn()?,
    );
    wait_for(proxy_port).await?;
    wait_for(node_port).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let token = jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": "00000000-0000-4000-8000-0000000000aa", "aud": "authenticated", "iss": "hark-dev", "role": "authenticated", "iat": now, "exp": now + 3600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )?;
    let client = hark_tests::http();
    let proxy_url = format!("http://127.0.0.1:{proxy_port}/v1/sessions");
    let node_url = format!("http://127.0.0.1:{node_port}/v1/sessions");
    let (rss_proxy_idle, rss_node_idle) = (
        vm_kib(proxy.0.id(), "VmRSS:"),
        vm_kib(node.0.id(), "VmRSS:"),
    );

    const N: usize = 3000;
    let base = latencies(N, || direct(&client, &upstream_url)).await?;
    let via_proxy = latencies(N, || one_session(&client, &proxy_url, &token)).await?;
    let via_node = latencies(N, || one_session(&client, &node_url, &token)).await?;
    // The proxy keeps each call it created (for hang-up and its max-length timer) until it ends;
    // these calls are never hung up, so memory here is per call held, not per request.
    let proxy_rss_after_sequential = vm_kib(proxy.0.id(), "VmRSS:");
    let duration = Duration::from_secs(5);
    let proxy_rps = throughput(
        Arc::new(proxy_url.clone()),
        Arc::new(token.clone()),
        64,
        duration,
    )
    .await?;
    let node_rps = throughput(
        Arc::new(node_url.clone()),
        Arc::new(token.clone()),
        64,
        duration,
    )
    .await?;

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let added =
        |samples: &[Duration], p: f64| ms(percentile(samples, p)) - ms(percentile(&base, p));
    println!(
        "proxy_signalling: POST /v1/sessions over loopback, instant upstream, {N} sequential requests, then 64 connections for {duration:?}"
    );
    println!(
        "  upstream alone (2 requests):  p50 {:>6.3} ms  p99 {:>6.3} ms",
        ms(percentile(&base, 0.5)),
        ms(percentile(&base, 0.99))
    );
    println!(
        "  hark-proxy added:             p50 {:>6.3} ms  p99 {:>6.3} ms   {:>7.0} req/s   RSS idle {:.1} MiB, peak {:.1} MiB",
        added(&via_proxy, 0.5),
        added(&via_proxy, 0.99),
        proxy_rps,
        rss_proxy_idle as f64 / 1024.0,
        vm_kib(proxy.0.id(), "VmHWM:") as f64 / 1024.0
    );
    println!(
        "  Node/Express forwarder added: p50 {:>6.3} ms  p99 {:>6.3} ms   {:>7.0} req/s   RSS idle {:.1} MiB, peak {:.1} MiB",
        added(&via_node, 0.5),
        added(&via_node, 0.99),
        node_rps,
        rss_node_idle as f64 / 1024.0,
        vm_kib(node.0.id(), "VmHWM:") as f64 / 1024.0
    );
    println!("  throughput ratio: {:.1}x", proxy_rps / node_rps);
    println!(
        "  hark-proxy RSS holding {} open calls: {:.1} MiB (≈{:.1} KiB per call held)",
        N + 200,
        proxy_rss_after_sequential as f64 / 1024.0,
        (proxy_rss_after_sequential.saturating_sub(rss_proxy_idle)) as f64 / (N + 200) as f64
    );
    Ok(())
}
