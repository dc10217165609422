//! Benchmark: the desktop app (release) beside a minimal Tauri 2 window (`tests/desktop-baseline`,
//! release) in one run, under the test stack's Xvfb through tauri-driver: cold start to an
//! interactive page (median of 5 each), CPU and PSS of each whole process tree (the app and its
//! WebKit processes) while idle, then while the app records the virtual microphone with a live
//! transcript for `HARK_BENCH_SECONDS` (default 600) beside the release `hark record` CLI on the
//! same microphone ("beyond the recorder itself").
//! Run inside the test stack: `cargo build --release -p hark-desktop -p hark-desktop-baseline
//! -p hark-recorder`, `cargo xtask stack`, export what it prints, then
//! `cargo bench -p hark-tests --bench desktop`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../crates/audio/tests/support/mod.rs"]
mod audio_support;

use audio_support::cpu_seconds;
use fantoccini::{Client, ClientBuilder, Locator};
use hark_tests::audio_files::wav_bytes;
use hark_tests::bench::{Looping, comm, interview_minute, process_tree as tree, release_binary};
use hark_tests::emulator::{Emulator, EmulatorConfig};

/// Proportional set size of a process tree in KiB (shared libraries split between sharers).
fn pss_kib(pid: u32) -> u64 {
    tree(pid)
        .iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
                .unwrap_or_default()
                .lines()
                .find_map(|line| line.strip_prefix("Pss:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// Each process of the tree: its name, PSS and private (unshared) memory in KiB.
fn breakdown(pid: u32) -> Vec<(String, u64, u64)> {
    tree(pid)
        .iter()
        .map(|p| {
            let rollup =
                std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).unwrap_or_default();
            let field = |name: &str| -> u64 {
                rollup
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0)
            };
            (
                comm(&p.to_string()),
                field("Pss:"),
                field("Private_Clean:") + field("Private_Dirty:"),
            )
        })
        .collect()
}

/// The breakdown as one line: `name PSS (private) MiB, …`.
fn breakdown_line(parts: &[(String, u64, u64)]) -> String {
    parts
        .iter()
        .map(|(name, pss, private)| {
            format!(
                "{name} {:.1} ({:.1})",
                *pss as f64 / 1024.0,
                *private as f64 / 1024.0
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU seconds so far of each process of the tree (by name) and of each thread of `pid` itself
/// (threads of one name summed), to see where the app's time goes.
fn cpu_parts(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut parts = std::collections::BTreeMap::new();
    for p in tree(pid) {
        let dir = p.to_string();
        *parts
            .entry(format!("process {}", comm(&dir)))
            .or_insert(0.0) += cpu_seconds(&dir);
    }
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let Ok(task) = task else { continue };
        let dir = format!("{pid}/task/{}", task.file_name().to_string_lossy());
        *parts.entry(format!("thread {}", comm(&dir))).or_insert(0.0) += cpu_seconds(&dir);
    }
    parts
}

/// The parts that used at least 0.1 % of a core between two readings, busiest first.
fn cpu_parts_line(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    wall: f64,
) -> String {
    let mut used: Vec<(&String, f64)> = after
        .iter()
        .map(|(name, end)| {
            (
                name,
                100.0 * (end - before.get(name).unwrap_or(&0.0)) / wall,
            )
        })
        .filter(|(_, percent)| *percent >= 0.1)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used.iter()
        .map(|(name, percent)| format!("{name} {percent:.2} %"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tree_cpu(pid: u32) -> f64 {
    tree(pid).iter().map(|p| cpu_seconds(&p.to_string())).sum()
}

/// One app under its own tauri-driver.
struct Window {
    driver: Child,
    client: Client,
    pid: u32,
}

impl Window {
    /// Launches `binary` with `env`; returns it and the time until `ready` (a CSS selector) is on
    /// screen.
    async fn open(binary: &Path, env: &[(&str, String)], ready: &str) -> (Window, Duration) {
        let driver_bin = std::env::var_os("HARK_TEST_TAURI_DRIVER")
            .expect("run inside `cargo xtask stack` (HARK_TEST_TAURI_DRIVER is not set)");
        let (port, native) = (hark_tests::free_port(), hark_tests::free_port());
        // Not in a process group of its own: WebKitWebDriver then never starts the app.
        let driver = Command::new(driver_bin)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver");
        let url = format!("http://127.0.0.1:{port}");
        // Both WebDriver servers are up before timing starts (a request forwarded before
        // WebKitWebDriver listens is never answered).
        for listening in [port, native] {
            while std::net::TcpStream::connect(("127.0.0.1", listening)).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": binary }),
        );
        let started = Instant::now();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a WebDriver session");
        client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(ready))
            .await
            .expect("the page is ready");
        let took = started.elapsed();
        let name = binary.file_name().unwrap().to_string_lossy().to_string();
        let pid = tree(driver.id())
            .into_iter()
            .find(|p| {
                std::fs::read_link(format!("/proc/{p}/exe"))
                    .is_ok_and(|exe| exe.to_string_lossy().ends_with(&name))
            })
            .expect("the app's process");
        (
            Window {
                driver,
                client,
                pid,
            },
            took,
        )
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css}: {err}"))
            .click()
            .await
            .unwrap();
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        for pid in tree(self.driver.id()).into_iter().skip(1).rev() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = hark_tests::bench::seconds();
    let (source, feed) = hark_tests::bench::stack_microphone()?;
    let mic = format!("pulseaudio:{source}");
    let app = release_binary("hark-desktop", "hark-desktop");
    let baseline = release_binary("hark-desktop-baseline", "hark-desktop-baseline");
    let hark = release_binary("hark", "hark-recorder");
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let proxy = hark_tests::serve::proxy(&emulator, None, &[]).await;
    let dir = std::env::temp_dir().join(format!("hark-bench-desktop-{}", std::process::id()));
    // An earlier run whose process had the same id left its library here.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config/hark"))?;
    // Past the first run: the app opens on the record screen.
    std::fs::write(dir.join("config/hark/config.toml"), "# benchmark\n")?;
    let env = vec![
        ("HARK_PROXY_URL", proxy.clone()),
        ("HARK_DATA_DIR", dir.join("data").display().to_string()),
        ("XDG_CONFIG_HOME", dir.join("config").display().to_string()),
    ];

    // The app turns WebKit's DMA-BUF renderer off when there is no GPU render node (see its
    // `main.rs`); the minimal window gets the same renderer, so only the app's own cost differs.
    let no_gpu = !std::fs::read_dir("/dev/dri").is_ok_and(|nodes| {
        nodes
            .flatten()
            .any(|n| n.file_name().to_string_lossy().starts_with("renderD"))
    });
    let base_env: Vec<(&str, String)> =
        if no_gpu && std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
            vec![("WEBKIT_DISABLE_DMABUF_RENDERER", "1".into())]
        } else {
            Vec::new()
        };

    // Cold start, alternating, five of each.
    let (mut app_starts, mut base_starts) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (window, took) = Window::open(&app, &env, "#record").await;
        app_starts.push(took);
        window.close().await;
        let (window, took) = Window::open(&baseline, &base_env, "#ready").await;
        base_starts.push(took);
        window.close().await;
    }

    // Idle, side by side.
    let (app_window, _) = Window::open(&app, &env, "#record").await;
    let (base_window, _) = Window::open(&baseline, &base_env, "#ready").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_span = Duration::from_secs(30);
    let (a0, b0) = (tree_cpu(app_window.pid), tree_cpu(base_window.pid));
    tokio::time::sleep(idle_span).await;
    let app_idle_cpu = (tree_cpu(app_window.pid) - a0) / idle_span.as_secs_f64();
    let base_idle_cpu = (tree_cpu(base_window.pid) - b0) / idle_span.as_secs_f64();
    let (app_idle_pss, base_idle_pss) = (pss_kib(app_window.pid), pss_kib(base_window.pid));
    let (app_idle_parts, base_idle_parts) = (breakdown(app_window.pid), breakdown(base_window.pid));

    // Recording: a looped DTMF interview into the virtual microphone; the app and the CLI both
    // record it with a live transcript.
    let wav = dir.join("interview.wav");
    std::fs::write(&wav, wav_bytes(interview_minute().samples(), 48_000, 1))?;
    let looping = Looping::start(&feed, &wav);
    let interview = app_window
        .client
        .find(Locator::Css("#interview"))
        .await
        .expect("#interview");
    interview.send_keys("Benchmark interview").await?;
    app_window
        .click(&format!("#microphone option[value=\"{mic}\"]"))
        .await;
    app_window.click("#consent").await;
    app_window.click("#record").await;
    let cli = Command::new(&hark)
        .args(["record", "--interview", "CLI beside the app", "--duration"])
        .arg((seconds + 20).to_string())
        .args(["--mic", &mic, "--proxy-url", &proxy, "--data-dir"])
        .arg(dir.join("cli-data"))
        .arg("--config")
        .arg(dir.join("absent.toml"))
        .env_remove("HARK_SUPABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let cli_pid = cli.id();
    let (a0, b0, c0) = (
        tree_cpu(app_window.pid),
        tree_cpu(base_window.pid),
        cpu_seconds(&cli_pid.to_string()),
    );
    let (app_parts0, cli_parts0) = (cpu_parts(app_window.pid), cpu_parts(cli_pid));
    let started = Instant::now();
    let mut app_peak_pss = 0;
    let mut app_peak_parts = Vec::new();
    // Each minute: where the app's CPU went in it and its PSS then, per process, to see costs
    // that grow with the recording and which process holds them.
    let mut minute_parts = (Instant::now(), app_parts0.clone());
    let mut minutes = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = pss_kib(app_window.pid);
        if now > app_peak_pss {
            app_peak_pss = now;
            app_peak_parts = breakdown(app_window.pid);
        }
        if minute_parts.0.elapsed() >= Duration::from_secs(60) {
            let parts = cpu_parts(app_window.pid);
            minutes.push(format!(
                "    minute {}: {:.1} MiB PSS ({}); {}",
                minutes.len() + 1,
                now as f64 / 1024.0,
                breakdown_line(&breakdown(app_window.pid)),
                cpu_parts_line(
                    &minute_parts.1,
                    &parts,
                    minute_parts.0.elapsed().as_secs_f64()
                )
            ));
            minute_parts = (Instant::now(), parts);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let app_rec_cpu = (tree_cpu(app_window.pid) - a0) / wall;
    let base_rec_cpu = (tree_cpu(base_window.pid) - b0) / wall;
    let cli_cpu = (cpu_seconds(&cli_pid.to_string()) - c0) / wall;
    let app_cpu_parts = cpu_parts_line(&app_parts0, &cpu_parts(app_window.pid), wall);
    let cli_cpu_parts = cpu_parts_line(&cli_parts0, &cpu_parts(cli_pid), wall);
    let base_rec_pss = pss_kib(base_window.pid);
    app_window.click("#stop").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    drop(looping);
    let _ = Command::new("kill")
        .args(["-INT", &cli_pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || cli.wait_with_output()).await?;
    app_window.close().await;
    base_window.close().await;
    let store = hark_store::Store::open(&dir.join("data/hark.db"))?;
    let sessions = store.sessions()?;
    let segments = sessions.first().map(|s| s.segments).unwrap_or(0);

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "desktop: release builds under Xvfb, one run, the app beside a minimal Tauri 2 window ({})",
        if base_env.is_empty() {
            "WebKit's default renderer"
        } else {
            "no GPU: both without WebKit's DMA-BUF renderer"
        }
    );
    println!(
        "  cold start to an interactive page (median of 5, WebDriver session included): app {:.0} ms, minimal window {:.0} ms",
        median(app_starts).as_secs_f64() * 1000.0,
        median(base_starts).as_secs_f64() * 1000.0
    );
    println!(
        "  idle: app {:.1} MiB PSS, {:.2} % of a core; minimal window {:.1} MiB PSS, {:.2} %; difference {:+.1} MiB",
        mib(app_idle_pss),
        100.0 * app_idle_cpu,
        mib(base_idle_pss),
        100.0 * base_idle_cpu,
        mib(app_idle_pss) - mib(base_idle_pss)
    );
    println!(
        "  recording {seconds} s with a live transcript ({segments} segments): app peak {:.1} MiB PSS ({:+.1} MiB over the minimal window's {:.1}), {:.2} % of a core; `hark record` alone on the same microphone {:.2} %, so the app costs {:+.2} % beyond the recorder; minimal window meanwhile {:.2} %",
        mib(app_peak_pss),
        mib(app_peak_pss) - mib(base_rec_pss),
        mib(base_rec_pss),
        100.0 * app_rec_cpu,
        100.0 * cli_cpu,
        100.0 * (app_rec_cpu - cli_cpu),
        100.0 * base_rec_cpu
    );
    println!(
        "  per process, MiB PSS (private): app idle: {}; app at its recording peak: {}; minimal window idle: {}",
        breakdown_line(&app_idle_parts),
        breakdown_line(&app_peak_parts),
        breakdown_line(&base_idle_parts)
    );
    println!(
        "  where the CPU went while recording: app: {app_cpu_parts}; `hark record`: {cli_cpu_parts}"
    );
    if !minutes.is_empty() {
        println!("  the app minute by minute:\n{}", minutes.join("\n"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
