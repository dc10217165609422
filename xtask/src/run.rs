//! The two README commands.

use std::process::Command;

use anyhow::{Context, bail};

use crate::install;
use crate::stack::Stack;

/// `cargo xtask run`: builds the UI and the desktop app and starts it. When no transcription
/// proxy is configured it also starts a local `--dev` proxy for the app: in front of OpenAI when
/// `OPENAI_API_KEY` is set, else in front of the OpenAI Realtime emulator (DTMF tones become
/// text). With no organisation configured the app is local-only: SQLite in the data folder.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    install::ensure_system_packages()?;
    let root = workspace_root();
    build_ui(&root)?;
    let mut build = cargo();
    build.args([
        "build",
        "--locked",
        "--package",
        "hark-desktop",
        "--package",
        "hark-proxy",
        "--package",
        "hark-tests",
        "--bins",
    ]);
    step("cargo build", build)?;
    let bin = crate::stack::target_dir().join("debug");
    let mut services: Vec<std::process::Child> = Vec::new();
    let mut app = Command::new(bin.join("hark-desktop"));
    // Installers register `hark://` links; a development build registers itself here.
    app.env("HARK_REGISTER_LINKS", "1");
    app.args(args);
    if !proxy_configured() {
        let proxy_port = crate::stack::free_port()?;
        let mut proxy = Command::new(bin.join("hark-proxy"));
        proxy.arg("--dev").env("PORT", proxy_port.to_string());
        if std::env::var_os("OPENAI_API_KEY").is_none() {
            let port = crate::stack::free_port()?;
            let child = Command::new(bin.join("realtime-emulator"))
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .spawn()
                .context("cannot start the OpenAI Realtime emulator")?;
            services.push(child);
            crate::stack::wait_for_port(
                "the OpenAI Realtime emulator",
                port,
                std::time::Duration::from_secs(10),
            )?;
            proxy
                .env("OPENAI_API_KEY", "sk-test")
                .env("OPENAI_BASE_URL", format!("http://127.0.0.1:{port}/v1"));
            println!(
                "xtask: OPENAI_API_KEY is not set: transcripts come from the OpenAI Realtime emulator (it recognises DTMF tones, not speech)"
            );
        }
        services.push(proxy.spawn().context("cannot start hark-proxy --dev")?);
        crate::stack::wait_for_port(
            "hark-proxy --dev",
            proxy_port,
            std::time::Duration::from_secs(10),
        )?;
        app.env(
            "HARK_PROXY_URL",
            format!("http://127.0.0.1:{proxy_port}/v1"),
        );
        println!(
            "xtask: no proxy_url is configured: the app uses a local --dev proxy on port {proxy_port}"
        );
    }
    let outcome = step("hark-desktop", app);
    for mut child in services {
        let _ = child.kill();
        let _ = child.wait();
    }
    outcome
}

/// Whether the app already has a transcription proxy (`HARK_PROXY_URL` or the settings file).
fn proxy_configured() -> bool {
    if std::env::var("HARK_PROXY_URL").is_ok_and(|url| !url.trim().is_empty()) {
        return true;
    }
    let Some(config) = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".config"))
        })
    else {
        return false;
    };
    std::fs::read_to_string(config.join("hark/config.toml")).is_ok_and(|text| {
        text.lines()
            .any(|line| line.trim_start().starts_with("proxy_url"))
    })
}

/// Installs the UI's npm packages when they changed, then builds it into `ui/dist` (which the
/// desktop app embeds at compile time).
fn build_ui(root: &std::path::Path) -> anyhow::Result<()> {
    if !install::on_path("npm") {
        bail!(
            "npm is missing: install Node.js 20.19 or newer with npm (https://nodejs.org, or your package manager), then run the command again"
        );
    }
    let ui = root.join("ui");
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let installed = modified(&ui.join("node_modules/.package-lock.json"));
    let locked = modified(&ui.join("package-lock.json"));
    if installed.is_none() || installed < locked {
        let mut ci = Command::new("npm");
        ci.current_dir(&ui)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        step("npm ci (ui)", ci)?;
    }
    let mut build = Command::new("npm");
    build.current_dir(&ui).args(["run", "--silent", "build"]);
    step("npm run build (ui)", build)
}

/// `cargo xtask test`: installs what is missing, then formatting, lints and every test.
pub fn test() -> anyhow::Result<()> {
    install::ensure_system_packages()?;
    prune_old_scratch();
    let root = workspace_root();
    build_ui(&root)?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    step("cargo fmt --check", fmt).context("formatting differs: run `cargo fmt --all`")?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    step("cargo clippy", clippy)?;
    // Build first, so the services start only when there is something to test.
    let mut build = cargo();
    build.args(["test", "--workspace", "--locked", "--no-run"]);
    step("cargo test --no-run", build)?;
    // The binaries too: the integration tests run `hark` as a user would.
    let mut bins = cargo();
    bins.args(["build", "--workspace", "--bins", "--locked"]);
    step("cargo build --bins", bins)?;
    let ui_unit = run_vitest(&root, "unit")?;
    let ui_flows = run_vitest(&root, "browser")?;
    let (pg_passed, rust) = {
        println!("xtask: starting the test services");
        let stack = Stack::start(&root)?;
        let pg_passed = stack.pg_prove(&root)?;
        let mut tests = cargo();
        tests.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
        tests.envs(stack.env().iter().map(|(k, v)| (k, v)));
        (pg_passed, run_counting_tests(tests)?)
        // `stack` is dropped here, and on every early return above: the services stop.
    };
    // One closing line for everything that ran: pgTAP, the UI's Vitest projects and Rust tests.
    println!(
        "tests: {} passed, {} failed",
        pg_passed + ui_unit.passed + ui_flows.passed + rust.passed,
        rust.failed
    );
    if !rust.success {
        bail!("cargo test failed: {} test(s) failed", rust.failed);
    }
    Ok(())
}

/// The prefixes of the folders tests leave in the temporary directory (kept for a look after a
/// failure: screenshots, logs, recordings).
const SCRATCH_PREFIXES: &[&str] = &[
    "hark-capture-",
    "hark-it-project-",
    "hark-bench-",
    "hark-audio-",
    "hark-playback-",
    "hark-studio-",
    "hark-move-",
    "hark-config-",
    "hark-recovery-",
    "hark-store-",
];

/// Removes test folders older than three days, so a machine that runs the tests every day
/// (CI keeps its `/tmp`) does not fill up; recent ones stay for a look after a failure.
fn prune_old_scratch() {
    let old = std::time::Duration::from_secs(3 * 24 * 3600);
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = SCRATCH_PREFIXES
            .iter()
            .any(|prefix| name.to_string_lossy().starts_with(prefix));
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > old));
        if ours && stale && entry.file_type().is_ok_and(|t| t.is_dir()) {
            removed += usize::from(std::fs::remove_dir_all(entry.path()).is_ok());
        }
    }
    if removed > 0 {
        println!(
            "xtask: removed {removed} test folders older than three days from the temporary directory"
        );
    }
}

/// What a `cargo test` run reported.
struct TestCounts {
    passed: u64,
    failed: u64,
    success: bool,
}

/// Runs `cargo test`, echoing its output and adding up its `test result:` lines.
fn run_counting_tests(mut command: Command) -> anyhow::Result<TestCounts> {
    use std::io::BufRead;
    println!("xtask: cargo test");
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start cargo test")?;
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    let (mut passed, mut failed) = (0, 0);
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap_or_default();
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count_of(rest, &[';'], "passed");
            failed += count_of(rest, &[';'], "failed");
        }
    }
    let status = child.wait().context("cargo test did not finish")?;
    Ok(TestCounts {
        passed,
        failed,
        success: status.success(),
    })
}

/// `cargo xtask stack`: the test services for running single tests by hand.
pub fn stack() -> anyhow::Result<()> {
    install::ensure_system_packages()?;
    let mut build = cargo();
    // The same build as `test`, so the two commands share one set of artifacts.
    build.args(["test", "--workspace", "--locked", "--no-run"]);
    step("cargo build (test services)", build)?;
    let mut bins = cargo();
    bins.args(["build", "--workspace", "--bins", "--locked"]);
    step("cargo build --bins", bins)?;
    let stack = Stack::start(&workspace_root())?;
    for (key, value) in stack.env() {
        println!("export {key}='{value}'");
    }
    println!("xtask: services are up; press Enter to stop them");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(())
}

/// `cargo xtask fuzz`: libFuzzer on `validate_offer` for a bounded time (cargo-fuzz, installed
/// once into `~/.cache/hark/tools`; `--sanitizer none` builds on the stable toolchain).
pub fn fuzz(seconds: &str) -> anyhow::Result<()> {
    let seconds: u64 = seconds
        .parse()
        .map_err(|_| anyhow::anyhow!("fuzz takes a number of seconds, not {seconds:?}"))?;
    let cargo_fuzz = install::ensure_cargo_tool("cargo-fuzz", "0.13.2")?;
    let mut fuzz = Command::new(cargo_fuzz);
    fuzz.current_dir(workspace_root().join("proxy/fuzz")).args([
        "fuzz",
        "run",
        "offer",
        "--sanitizer",
        "none",
        "--",
        &format!("-max_total_time={seconds}"),
    ]);
    step("cargo fuzz run offer", fuzz)
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// A cargo command run from the workspace root, whatever directory xtask was started in.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn step(name: &str, mut command: Command) -> anyhow::Result<()> {
    println!("xtask: {name}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// Runs one Vitest project of the UI (`unit`, or `browser` for the flow tests in headless
/// Chromium) and counts its tests.
fn run_vitest(root: &std::path::Path, project: &str) -> anyhow::Result<TestCounts> {
    let mut vitest = Command::new("npm");
    vitest
        .current_dir(root.join("ui"))
        .args(["exec", "--", "vitest", "run", "--project", project]);
    let name = format!("vitest --project {project} (ui)");
    println!("xtask: {name}");
    let output = vitest
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {name}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    // Vitest's summary: "      Tests  12 passed (12)" or "Tests  1 failed | 11 passed (12)".
    let summary = text
        .lines()
        .find(|line| line.trim_start().starts_with("Tests "))
        .unwrap_or_default();
    let counts = TestCounts {
        passed: count_of(summary, &['|', '('], "passed"),
        failed: count_of(summary, &['|', '('], "failed"),
        success: output.status.success(),
    };
    if !counts.success {
        bail!("{name} failed: {} test(s) failed", counts.failed);
    }
    Ok(counts)
}

/// The number before `word` in a test summary split at `separators` ("12 passed; 0 failed").
fn count_of(summary: &str, separators: &[char], word: &str) -> u64 {
    summary
        .split(separators)
        .find_map(|part| {
            part.trim()
                .strip_suffix(word)?
                .trim()
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::count_of;

    #[test]
    fn counts_come_from_cargo_and_vitest_summaries() {
        let cargo = "ok. 12 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out";
        assert_eq!(count_of(cargo, &[';'], "passed"), 12);
        assert_eq!(count_of(cargo, &[';'], "failed"), 1);
        let vitest = "      Tests  1 failed | 20 passed (21)";
        assert_eq!(count_of(vitest, &['|', '('], "passed"), 20);
        assert_eq!(count_of(vitest, &['|', '('], "failed"), 1);
        assert_eq!(
            count_of("      Tests  21 passed (21)", &['|', '('], "failed"),
            0
        );
    }
}
