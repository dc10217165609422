//! Helpers the benchmarks share: a minute of interview looped into the virtual microphone, and
//! the processes under a root (an app and its WebKit helpers), read from `/proc` (Linux).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dtmf::Script;

/// How long a benchmark records: `HARK_BENCH_SECONDS`, ten minutes if unset.
pub fn seconds() -> u64 {
    std::env::var("HARK_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

/// The test stack's virtual microphone: its PulseAudio source name (cpal calls it
/// `pulseaudio:<name>`) and the sink that feeds it.
pub fn stack_microphone() -> anyhow::Result<(String, String)> {
    let name = std::env::var("HARK_TEST_VIRTUAL_MIC").map_err(|_| {
        anyhow::anyhow!("run inside `cargo xtask stack` (HARK_TEST_VIRTUAL_MIC is not set)")
    })?;
    let feed = std::env::var("HARK_TEST_VIRTUAL_MIC_FEED").map_err(|_| {
        anyhow::anyhow!("run inside `cargo xtask stack` (HARK_TEST_VIRTUAL_MIC_FEED is not set)")
    })?;
    Ok((name, feed))
}

/// A release binary of the workspace, with the command that builds it when it is missing.
pub fn release_binary(binary: &str, package: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("release").join(binary);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release -p {package}` first",
        path.display()
    );
    path
}

/// About a minute of interview: answers of a few seconds with pauses.
pub fn interview_minute() -> Script {
    let mut script = Script::new();
    for i in 0..12 {
        script = script
            .pause(1_500)
            .say(["1 2 3", "4 5", "6 7 8 9", "0 #"][i % 4])
            .pause(2_500);
    }
    script
}

/// A WAV file played into a PulseAudio sink over and over until dropped.
#[derive(Debug)]
pub struct Looping {
    playing: Arc<AtomicBool>,
    feed: String,
    player: Option<std::thread::JoinHandle<()>>,
}

impl Looping {
    /// Starts playing `wav` into the sink `feed` in a loop.
    pub fn start(feed: &str, wav: &Path) -> Looping {
        let playing = Arc::new(AtomicBool::new(true));
        let player = std::thread::spawn({
            let (playing, wav, feed) = (playing.clone(), wav.to_path_buf(), feed.to_string());
            move || {
                while playing.load(Ordering::SeqCst) {
                    let _ = Command::new("paplay")
                        .arg(format!("--device={feed}"))
                        .arg(&wav)
                        .status();
                }
            }
        });
        Looping {
            playing,
            feed: feed.to_string(),
            player: Some(player),
        }
    }
}

impl Drop for Looping {
    fn drop(&mut self) {
        self.playing.store(false, Ordering::SeqCst);
        let _ = Command::new("pkill")
            .args(["-f", &format!("paplay --device={}", self.feed)])
            .status();
        if let Some(player) = self.player.take() {
            let _ = player.join();
        }
    }
}

/// The name of `/proc/<dir>` (a process, or `<pid>/task/<tid>` for a thread).
pub fn comm(dir: &str) -> String {
    std::fs::read_to_string(format!("/proc/{dir}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// `pid` and every process under it, parents before children (`/proc/<pid>/task/*/children`).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut at = 0;
    while at < all.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", all[at]))
            .map(|dir| dir.flatten().collect::<Vec<_>>())
            .unwrap_or_default();
        for task in tasks {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        at += 1;
    }
    all
}
