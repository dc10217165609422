//! The tray icon: whether Hark is recording, and what needs no window: show it, stop and save,
//! bookmark, quit (which saves a recording first). Kept current once a second.

use std::time::Duration;

use hark_recorder::Active;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use crate::shortcuts::{self, Action};
use crate::state::Shell;

/// The tray's status line for the recording in progress, if any.
pub fn status(active: Option<&Active>) -> String {
    match active {
        None => "Not recording".into(),
        Some(active) => {
            let seconds = active.position_ms / 1000;
            format!(
                "{}: {} ({}:{:02})",
                if active.paused { "Paused" } else { "Recording" },
                active.interview.job_title,
                seconds / 60,
                seconds % 60
            )
        }
    }
}

/// Adds the tray icon; an error (no tray on this system) leaves the app without one.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let status_item = MenuItem::with_id(app, "status", status(None), false, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show Hark", true, None::<&str>)?;
    let stop = MenuItem::with_id(app, "stop", "Stop and save", false, None::<&str>)?;
    let bookmark = MenuItem::with_id(app, "bookmark", "Add bookmark", false, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Hark", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status_item,
            &PredefinedMenuItem::separator(app)?,
            &show,
            &stop,
            &bookmark,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let mut builder = TrayIconBuilder::with_id("hark")
        .tooltip("Hark")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "show" => shortcuts::show_window(app),
            // The record screen stops and saves, as its Stop button does; only while recording
            // (the menu is refreshed once a second, so a click may come just after a stop).
            "stop" if app.state::<Shell>().studio.is_recording() => {
                shortcuts::pressed(app, Action::Record)
            }
            "bookmark" => shortcuts::pressed(app, Action::Bookmark),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    let tray = builder.build(app)?;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = String::new();
        loop {
            let active = app.state::<Shell>().studio.active().await;
            let line = status(active.as_ref());
            if line != shown {
                let recording = active.is_some();
                let updated = status_item
                    .set_text(&line)
                    .and_then(|()| stop.set_enabled(recording))
                    .and_then(|()| bookmark.set_enabled(recording))
                    .and_then(|()| tray.set_tooltip(Some(format!("Hark — {line}"))));
                if let Err(err) = updated {
                    tracing::warn!("the tray cannot be updated: {err}");
                }
                shown = line;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_names_the_interview_and_the_time_recorded() {
        assert_eq!(status(None), "Not recording");
        let mut active = Active {
            session_id: uuid::Uuid::new_v4(),
            interview: hark_store::Interview {
                id: uuid::Uuid::new_v4(),
                org_id: None,
                candidate_id: None,
                candidate_name: None,
                job_title: "Backend engineer".into(),
                created_at_ms: 0,
                in_cloud: false,
            },
            sources: vec!["microphone".into()],
            started_at_ms: 0,
            position_ms: 754_900,
            paused: false,
        };
        assert_eq!(status(Some(&active)), "Recording: Backend engineer (12:34)");
        active.paused = true;
        assert_eq!(status(Some(&active)), "Paused: Backend engineer (12:34)");
    }
}
