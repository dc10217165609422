//! The two README commands.

use std::process::Command;

use anyhow::{Context, bail};

use crate::install;

/// `cargo xtask run`: runs the product. Until the desktop app exists that is the OpenAI Realtime
/// emulator, the piece a developer runs by hand today.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    install::ensure_system_packages()?;
    println!("xtask: the desktop app does not exist yet; starting the OpenAI Realtime emulator");
    println!("xtask: point a client at the printed base URL; see tests/README.md");
    let mut command = cargo();
    command.args([
        "run",
        "--locked",
        "--package",
        "hark-tests",
        "--bin",
        "realtime-emulator",
        "--",
    ]);
    command.args(args);
    step("realtime emulator", command)
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
    let mut tests = cargo();
    tests.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    step("cargo test", tests)
}

/// A cargo command run from the workspace root, whatever directory xtask was started in.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
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
