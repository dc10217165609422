//! `hark://` links from the operating system (an admin's set-up link clicked in an email or
//! chat): the one that started the app and any opened while it runs (a second start hands its
//! link over) are read by the recorder's `links`, kept for the window, and announced with
//! [`LinkOpened`]. The window asks the recruiter before anything in a link is used.

use hark_recorder::links::Link;
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event;

use crate::state::Shell;

/// A link the operating system handed to Hark: what it asks for, or why it cannot be used.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct OpenedLink {
    /// What the link asks for, when it is usable.
    pub link: Option<Link>,
    /// What is wrong with it, and what to do.
    pub problem: Option<String>,
}

/// A link was opened: the window takes it with `take_link`.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LinkOpened;

/// Reads the link the app was started with and listens for later ones (no-op without the
/// deep-link plugin, as on the mock runtime in tests).
pub fn watch<R: Runtime>(app: &AppHandle<R>) {
    use tauri_plugin_deep_link::DeepLinkExt;
    if app
        .try_state::<tauri_plugin_deep_link::DeepLink<R>>()
        .is_none()
    {
        return;
    }
    // Installers register the scheme; a development build does when asked (`cargo xtask run`).
    if cfg!(debug_assertions) && std::env::var_os("HARK_REGISTER_LINKS").is_some_and(|v| v == "1") {
        match app.deep_link().register_all() {
            Ok(()) => tracing::info!("registered this build for hark:// links"),
            Err(err) => tracing::warn!(
                "cannot register this build for hark:// links ({err}); links reach it by starting it with the link"
            ),
        }
    }
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        for url in urls {
            opened(app, url.as_str());
        }
    }
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            opened(&handle, url.as_str());
        }
    });
}

fn opened<R: Runtime>(app: &AppHandle<R>, url: &str) {
    let opened = match hark_recorder::links::parse(url) {
        Ok(link) => OpenedLink {
            link: Some(link),
            problem: None,
        },
        Err(err) => {
            tracing::warn!("a hark:// link cannot be used: {err}");
            OpenedLink {
                link: None,
                problem: Some(err.to_string()),
            }
        }
    };
    app.state::<Shell>().set_link(opened);
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
    if let Err(err) = LinkOpened.emit(app) {
        tracing::warn!("cannot tell the window about a link: {err}");
    }
}
