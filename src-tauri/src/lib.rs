//! Hark's desktop shell: the Tauri 2 app around the recorder. It opens the window, manages the
//! [`state::Shell`], registers the thin [`commands`] and forwards the recorder's [`events`].
//! Only this crate knows about Tauri. Closing or quitting never loses a recording: closing the
//! window while recording asks first, and quitting stops and saves the recording before exit.

pub mod bindings;
pub mod commands;
pub mod error;
pub mod events;
pub mod links;
pub mod shortcuts;
pub mod state;
pub mod tray;
pub mod updates;

#[cfg(test)]
mod installers;

use tauri::{Manager, RunEvent, Runtime, WindowEvent};
use tauri_specta::Event;

/// Gives Tauri a runtime with one async worker. The audio, the store and the sound-server
/// clients have threads of their own and nothing blocks the async side, so a second worker only
/// adds wake-ups while recording; the CLI runs on a single async thread for the same reason.
fn use_one_async_worker() {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => tauri::async_runtime::set(RUNTIME.get_or_init(|| runtime).handle().clone()),
        // Tauri then starts its own default runtime.
        Err(err) => eprintln!("hark: cannot start the async runtime with one worker: {err}"),
    }
}

/// Starts the desktop app (the binary's `main`).
pub fn run() {
    use_one_async_worker();
    let shell = match state::Shell::open() {
        Ok(shell) => shell,
        Err(err) => {
            eprintln!("hark: cannot open the local store: {err}");
            std::process::exit(1);
        }
    };
    let mut builder = tauri::Builder::default()
        .plugin(logging(&shell.log_dir()))
        .plugin(single_instance(&shell))
        // After single-instance, which hands a second start's link to it.
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_window_state::Builder::default().build());
    if shortcuts::available() {
        builder = builder.plugin(tauri_plugin_global_shortcut::Builder::new().build());
    }
    let context = tauri::generate_context!();
    builder = updates::add_plugin(builder, context.config());
    let app = match build(builder, shell).build(context) {
        Ok(app) => app,
        Err(err) => {
            eprintln!("hark: the app could not start: {err}");
            std::process::exit(1);
        }
    };
    app.run(on_run_event);
}

/// Logs (ours at info, the libraries' at warn) to stdout and to `<data folder>/logs/hark.log`,
/// rotated at 5 MB keeping five; "copy diagnostics" reads it.
fn logging<R: Runtime>(dir: &std::path::Path) -> tauri::plugin::TauriPlugin<R> {
    use tauri_plugin_log::{RotationStrategy, Target, TargetKind};
    tauri_plugin_log::Builder::new()
        .clear_targets()
        .targets([
            Target::new(TargetKind::Stdout),
            Target::new(TargetKind::Folder {
                path: dir.to_path_buf(),
                file_name: Some(state::LOG_NAME.into()),
            }),
        ])
        .level(log::LevelFilter::Warn)
        .level_for("hark_desktop", log::LevelFilter::Info)
        .level_for("hark_recorder", log::LevelFilter::Info)
        .level_for("hark_cloud", log::LevelFilter::Info)
        .level_for("hark_realtime", log::LevelFilter::Info)
        .level_for("hark_audio", log::LevelFilter::Info)
        .max_file_size(5_000_000)
        .rotation_strategy(RotationStrategy::KeepSome(5))
        .build()
}

/// One app per data folder: starting Hark again brings the running window forward instead
/// (two apps on one folder would record over each other's sessions).
fn single_instance<R: Runtime>(shell: &state::Shell) -> tauri::plugin::TauriPlugin<R> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    shell.studio.recorder().config().data_dir.hash(&mut hasher);
    tauri_plugin_single_instance::Builder::new()
        .dbus_id(format!("dev.hark.app.folder{:016x}", hasher.finish()))
        .callback(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        })
        .build()
}

/// The system's save dialog (tauri-plugin-dialog; GTK on Linux); without the plugin, as on the
/// mock runtime, saving says so.
fn save_dialog<R: Runtime>(app: tauri::AppHandle<R>) -> state::SaveDialog {
    use tauri_plugin_dialog::DialogExt;
    state::SaveDialog(std::sync::Arc::new(move |name, format| {
        if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
            return Err(error::UiError::Invalid {
                message: "this window cannot show a save dialog; use Copy instead".into(),
            });
        }
        let mut dialog = app.dialog().file().set_title("Save the export");
        // The Documents folder, not wherever Hark was started from.
        if let Ok(folder) = app.path().document_dir().or_else(|_| app.path().home_dir()) {
            dialog = dialog.set_directory(folder);
        }
        let Some(picked) = dialog
            .set_file_name(name)
            .add_filter(format.label(), &[format.extension()])
            .blocking_save_file()
        else {
            return Ok(None);
        };
        picked
            .into_path()
            .map(Some)
            .map_err(|err| error::UiError::Invalid {
                message: format!(
                    "that place cannot be saved to ({err}); pick a folder on this computer"
                ),
            })
    }))
}

/// The system's folder dialog (tauri-plugin-dialog), opening in the user's home folder.
fn pick_folder<R: Runtime>(app: tauri::AppHandle<R>) -> state::PickFolder {
    use tauri_plugin_dialog::DialogExt;
    state::PickFolder(std::sync::Arc::new(move |title| {
        if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
            return Err(error::UiError::Invalid {
                message: "this window cannot show a folder dialog; type the folder's path".into(),
            });
        }
        let mut dialog = app.dialog().file().set_title(title);
        if let Ok(home) = app.path().home_dir() {
            dialog = dialog.set_directory(home);
        }
        let Some(picked) = dialog.blocking_pick_folder() else {
            return Ok(None);
        };
        picked
            .into_path()
            .map(Some)
            .map_err(|err| error::UiError::Invalid {
                message: format!("that folder cannot be used ({err}); pick one on this computer"),
            })
    }))
}

/// The app on any runtime (the real window, or Tauri's mock runtime in tests).
pub fn build<R: Runtime>(builder: tauri::Builder<R>, shell: state::Shell) -> tauri::Builder<R> {
    let specta = bindings::builder::<R>();
    builder
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            specta.mount_events(app);
            let handle = app.handle().clone();
            events::forward(handle.clone(), shell.studio.subscribe(), |event| {
                (!events::is_level(&event)).then_some(events::RecordingEvent(event))
            });
            let mut levels = events::LevelThrottle::new(shell.meters.clone());
            events::forward(handle.clone(), shell.studio.subscribe(), move |event| {
                levels.pass(&event, std::time::Instant::now())
            });
            if let Some(cloud) = shell.studio.cloud().cloned() {
                events::forward(handle.clone(), cloud.sync.subscribe(), |event| {
                    Some(events::SyncStatusEvent(event))
                });
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
            let gaps = handle.clone();
            tauri::async_runtime::spawn(async move {
                gaps.state::<state::Shell>()
                    .studio
                    .fill_gaps_forever()
                    .await;
            });
            links::watch(&handle);
            if let Err(err) = tray::create(&handle) {
                tracing::warn!("no tray icon on this system: {err}");
            }
            let restart = handle.clone();
            app.manage(state::Restart(Box::new(move || restart.restart())));
            app.manage(save_dialog(handle.clone()));
            app.manage(pick_folder(handle.clone()));
            app.manage(updates::Updates::new(&handle));
            let grabbing = handle.clone();
            app.manage(state::Regrab(std::sync::Arc::new(move |preferences| {
                shortcuts::register(&grabbing, preferences)
            })));
            quit_on_signals(app.handle().clone());
            Ok(())
        })
        .on_page_load(|webview, load| {
            // Grabbing a shortcut holds the main thread until the X server answers (the
            // plugin's X thread polls every 50 ms): done at start it delayed the window's first
            // answers by ~0.5 s, so it waits until the page has loaded and had a moment to ask
            // for what it shows first.
            if load.event() == tauri::webview::PageLoadEvent::Finished
                && webview.state::<state::Shell>().claim_shortcuts()
            {
                let app = webview.app_handle().clone();
                tauri::async_runtime::spawn_blocking(move || {
                    std::thread::sleep(shortcuts::AFTER_LOAD);
                    let shell = app.state::<state::Shell>();
                    let registered = shortcuts::register(&app, &shell.preferences());
                    shell.set_shortcuts(registered.clone());
                    if let Err(err) = shortcuts::ShortcutsReady(registered).emit(&app) {
                        tracing::warn!("cannot tell the window about the shortcuts: {err}");
                    }
                });
            }
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.state::<state::Shell>().studio.is_recording()
            {
                api.prevent_close();
                if window.state::<state::Shell>().studio.is_stopping() {
                    // Stop was pressed and is still saving: close once it has saved.
                    let window = window.clone();
                    tauri::async_runtime::spawn(async move {
                        window.state::<state::Shell>().studio.finish().await;
                        if let Err(err) = window.destroy() {
                            tracing::warn!("cannot close the window after saving: {err}");
                        }
                    });
                } else if let Err(err) = events::CloseRequested.emit(window.app_handle()) {
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

/// Quitting while recording (or while a stop is still saving) first stops and saves the
/// recording, then exits.
pub fn on_run_event<R: Runtime>(app: &tauri::AppHandle<R>, event: RunEvent) {
    if let RunEvent::ExitRequested { api, code, .. } = event
        && app.state::<state::Shell>().studio.is_recording()
    {
        api.prevent_exit();
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            match app.state::<state::Shell>().studio.finish().await {
                Some(Ok(summary)) => {
                    tracing::info!("saved session {} before quitting", summary.session_id)
                }
                Some(Err(err)) => tracing::error!("stopping before quitting failed: {err}"),
                None => tracing::info!("the recording being stopped was saved before quitting"),
            }
            app.exit(code.unwrap_or(0));
        });
    }
}
