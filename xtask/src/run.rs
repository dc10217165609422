//! The two README commands.

use std::process::Command;

use anyhow::{Context, bail};

use crate::install;
use crate::stack::Stack;

/// `cargo xtask run`: runs the product. Until the desktop app exists that is the SDP proxy in
/// `--dev` mode (no Supabase) in front of OpenAI when `OPENAI_API_KEY` is set, else in front of
/// the OpenAI Realtime emulator — the parts a client can already talk to.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    install::ensure_system_packages()?;
    let mut build = cargo();
    build.args([
        "build",
        "--locked",
        "--package",
        "hark-proxy",
        "--package",
        "hark-tests",
        "--bins",
    ]);
    step("cargo build", build)?;
    let bin = crate::stack::target_dir().join("debug");
    let mut emulator = None;
    let mut proxy = Command::new(bin.join("hark-proxy"));
    proxy.arg("--dev").args(args);
    if std::env::var_os("OPENAI_API_KEY").is_none() {
        let port = crate::stack::free_port()?;
        let child = Command::new(bin.join("realtime-emulator"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .spawn()
            .context("cannot start the OpenAI Realtime emulator")?;
        emulator = Some(child);
        crate::stack::wait_for_port(
            "the OpenAI Realtime emulator",
            port,
            std::time::Duration::from_secs(10),
        )?;
        proxy
            .env("OPENAI_API_KEY", "sk-test")
            .env("OPENAI_BASE_URL", format!("http://127.0.0.1:{port}/v1"));
        println!(
            "xtask: OPENAI_API_KEY is not set: the proxy talks to the emulator (DTMF tones become transcripts)"
        );
    }
    println!(
        "xtask: the desktop app does not exist yet; starting the SDP proxy in --dev mode on http://127.0.0.1:8080/v1"
    );
    println!(
        "xtask: POST /v1/sessions with {{sdp, interview_id, source}}; see proxy/README.md. Ctrl-C stops."
    );
    let outcome = step("hark-proxy --dev", proxy);
    if let Some(mut child) = emulator {
        let _ = child.kill();
        let _ = child.wait();
    }
    outcome
}

/// `cargo xtask test`: installs what is missing, then formatting, lints and every test.
pub fn test() -> anyhow::Result<()> {
    install::ensure_system_packages()?;
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
    let root = workspace_root();
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
    // One closing line for everything that ran: pgTAP and Rust tests.
    println!(
        "tests: {} passed, {} failed",
        pg_passed + rust.passed,
        rust.failed
    );
    if !rust.success {
        bail!("cargo test failed: {} test(s) failed", rust.failed);
    }
    Ok(())
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
            let count = |word: &str| {
                rest.split(';')
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
            };
            passed += count("passed");
            failed += count("failed");
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
