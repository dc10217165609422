//! Hark's desktop shell: the Tauri 2 app around the recorder. It opens the window, manages the
//! [`state::Shell`], registers the thin [`commands`] and forwards the recorder's [`events`].
//! Only this crate knows about Tauri.

pub mod bindings;
pub mod commands;
pub mod error;
pub mod events;
pub mod state;

use tauri::{Manager, Runtime};

/// Starts the desktop app (the binary's `main`).
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hark=info".into()),
        )
        .try_init();
    let context = tauri::generate_context!();
    if let Err(err) = build(tauri::Builder::default()).run(context) {
        eprintln!("hark: the app could not start: {err}");
        std::process::exit(1);
    }
}

/// The app on any runtime (the real window, or Tauri's mock runtime in tests).
pub fn build<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    let specta = bindings::builder::<R>();
    builder
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            specta.mount_events(app);
            let shell = state::Shell::open()?;
            events::forward(app.handle().clone(), shell.studio.subscribe());
            app.manage(shell);
            Ok(())
        })
}
