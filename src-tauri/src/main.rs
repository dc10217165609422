//! The desktop app's entry point: everything lives in the library, so tests can build the app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    software_rendering_without_a_gpu();
    hark_desktop::run();
}

/// Without a GPU (no `/dev/dri` render node: virtual machines, remote desktops, Xvfb), WebKitGTK's
/// DMA-BUF renderer composites through software GL and redraws the live transcript's scrolling
/// box continuously: measured at 90 % of a core for WebKit alone while recording, against 13 % for
/// the whole app with this renderer off. A variable the user set is left alone.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn software_rendering_without_a_gpu() {
    const VAR: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
    let has_gpu = std::fs::read_dir("/dev/dri").is_ok_and(|nodes| {
        nodes
            .flatten()
            .any(|node| node.file_name().to_string_lossy().starts_with("renderD"))
    });
    if !has_gpu && std::env::var_os(VAR).is_none() {
        // SAFETY: the first thing `main` does, before any thread exists, so nothing reads the
        // environment while it changes.
        unsafe { std::env::set_var(VAR, "1") };
    }
}
