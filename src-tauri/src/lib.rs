//! Hark's desktop shell: the Tauri 2 app around the recorder. It opens the window, manages the
//! [`state::Shell`], registers the thin [`commands`] and forwards the recorder's [`events`].
//! Only this crate knows about Tauri. Closing or quitting never loses a recording: closing the
//! window while recording asks first, and quitting stops and saves the recording before exit.

pub mod bindings;
pub mod commands;
pub mod error;
pub mod events;
pub mod state;

use tauri::{Manager, RunEvent, Runtime, WindowEvent};
use tauri_specta::Event;

/// Starts the desktop app (the binary's `main`).
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hark=info".into()),
        )
        .try_init();
    let shell = match state::Shell::open() {
        Ok(shell) => shell,
        Err(err) => {
            eprintln!("hark: cannot open the local store: {err}");
            std::process::exit(1);
        }
    };
    let app = match build(tauri::Builder::default(), shell).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(err) => {
            eprintln!("hark: the app could not start: {err}");
            std::process::exit(1);
        }
    };
    app.run(on_run_event);
}

/// The app on any runtime (the real window, or Tauri's mock runtime in tests).
pub fn build<R: Runtime>(builder: tauri::Builder<R>, shell: state::Shell) -> tauri::Builder<R> {
    let specta = bindings::builder::<R>();
    builder
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            specta.mount_events(app);
            let handle = app.handle().clone();
            events::forward(
                handle.clone(),
                shell.studio.subscribe(),
                events::RecordingEvent,
            );
            if let Some(cloud) = shell.studio.cloud().cloned() {
                events::forward(
                    handle.clone(),
                    cloud.sync.subscribe(),
                    events::SyncStatusEvent,
                );
                tauri::async_runtime::spawn(async move {
                    match cloud.restore().await {
                        Ok(true) => {
                            cloud.signed_in_now().await;
                        }
                        Ok(false) => {}
                        Err(err) => tracing::warn!("the saved sign-in cannot be used: {err}"),
                    }
                    cloud.sync.clone().run().await;
                });
            }
            app.manage(shell);
            let restart = handle.clone();
            app.manage(state::Restart(Box::new(move || restart.restart())));
            quit_on_signals(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.state::<state::Shell>().studio.is_recording()
            {
                api.prevent_close();
                if let Err(err) = events::CloseRequested.emit(window.app_handle()) {
                    tracing::warn!("cannot ask the window about closing: {err}");
                }
            }
        })
}

/// Ctrl-C, and on Unix SIGTERM (logout, shutdown, `kill`), quit the app the normal way, so a
/// recording in progress is stopped and saved first.
fn quit_on_signals<R: Runtime>(app: tauri::AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::warn!("cannot watch for SIGTERM: {err}");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("asked to quit by a signal");
        app.exit(0);
    });
}

/// Quitting while recording first stops and saves the recording, then exits.
pub fn on_run_event<R: Runtime>(app: &tauri::AppHandle<R>, event: RunEvent) {
    if let RunEvent::ExitRequested { api, code, .. } = event
        && app.state::<state::Shell>().studio.is_recording()
    {
        api.prevent_exit();
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            match app.state::<state::Shell>().studio.stop().await {
                Ok(summary) => {
                    tracing::info!("saved session {} before quitting", summary.session_id)
                }
                Err(err) => tracing::error!("stopping before quitting failed: {err}"),
            }
            app.exit(code.unwrap_or(0));
        });
    }
}
