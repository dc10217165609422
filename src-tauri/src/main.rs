//! The desktop app's entry point: everything lives in the library, so tests can build the app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    {
        software_rendering_without_a_gpu();
        no_optimising_javascript_compiler();
    }
    hark_desktop::run();
}

/// Turns JavaScriptCore's optimising compilers (DFG, and FTL above it) off in WebKitGTK's web
/// process, which inherits this environment; the interpreter and the baseline JIT remain. The
/// page is small and event-driven, so its code never runs hot enough to repay them, but they
/// cost memory. Desktop benchmark, 150 s recording with a live transcript: the web process's
/// peak went from 88.7 to 80.4 MiB PSS, its CPU unchanged (1.61 / 1.63 % of a core). Without any
/// JIT (`JSC_useJIT=false`) it was 73.9 MiB, but the web process took 1.98 % of a core instead
/// of 1.6-1.8 %, rising with the transcript to 2.4 % in a 10-minute run, which put the app past
/// its CPU budget. A value the user set wins.
#[cfg(target_os = "linux")]
fn no_optimising_javascript_compiler() {
    default_env(hark_desktop::state::DFG_JIT_VAR, "false");
}

/// Without a GPU (no `/dev/dri` render node: virtual machines, remote desktops, Xvfb), WebKitGTK's
/// DMA-BUF renderer composites through software GL and redraws the live transcript's scrolling
/// box continuously: measured at 90 % of a core for WebKit alone while recording, against 13 % for
/// the whole app with this renderer off. A variable the user set is left alone.
#[cfg(target_os = "linux")]
fn software_rendering_without_a_gpu() {
    let has_gpu = std::fs::read_dir("/dev/dri").is_ok_and(|nodes| {
        nodes
            .flatten()
            .any(|node| node.file_name().to_string_lossy().starts_with("renderD"))
    });
    if !has_gpu {
        default_env(hark_desktop::state::DMABUF_RENDERER_VAR, "1");
    }
}

/// Sets `var` for this process and the WebKit processes it starts, unless the user set it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn default_env(var: &str, value: &str) {
    if std::env::var_os(var).is_none() {
        // SAFETY: only called first thing in `main`, before any thread exists, so nothing reads
        // the environment while it changes.
        unsafe { std::env::set_var(var, value) };
    }
}
