//! Global shortcuts that work while the video call has the focus: one drops a bookmark in the
//! current recording, the other brings Hark forward and starts (once the interview is named and
//! the notice confirmed) or stops and saves the recording. A shortcut another app already holds
//! is reported in Settings; the app runs on without it.

use hark_recorder::config::Preferences;
use hark_store::NoteKind;
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{
    GlobalShortcut, Modifiers, Shortcut, ShortcutEvent, ShortcutState,
};
use tauri_specta::Event;

use crate::state::Shell;

/// What a global shortcut does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Start or stop and save the recording.
    Record,
    /// Bookmark this moment of the recording.
    Bookmark,
}

/// The default shortcuts and what they do (`CommandOrControl` is ⌘ on macOS, Ctrl elsewhere).
pub const SHORTCUTS: [(&str, Action); 2] = [
    ("CommandOrControl+Alt+R", Action::Record),
    ("CommandOrControl+Alt+B", Action::Bookmark),
];

/// The shortcuts in force: the recruiter's choice, else the defaults.
pub fn chosen(preferences: &Preferences) -> [(String, Action); 2] {
    let pick = |choice: &Option<String>, default: &str| {
        choice.clone().unwrap_or_else(|| default.to_string())
    };
    [
        (
            pick(&preferences.record_shortcut, SHORTCUTS[0].0),
            Action::Record,
        ),
        (
            pick(&preferences.bookmark_shortcut, SHORTCUTS[1].0),
            Action::Bookmark,
        ),
    ]
}

/// Checks shortcuts the recruiter picked: each must hold Ctrl/⌘ or Alt (Shift alone would take
/// capital letters away from every app) plus one key, and the two must differ. The error names
/// the shortcut and the fix.
pub fn check(record: &str, bookmark: &str) -> Result<(), String> {
    for (keys, what) in [(record, "recording"), (bookmark, "bookmark")] {
        let shortcut: Shortcut = keys.parse().map_err(|err| {
            format!("the {what} shortcut {keys:?} is not a key combination ({err}); press a modifier with one key, such as Ctrl+Alt+K")
        })?;
        if !shortcut
            .mods
            .intersects(Modifiers::CONTROL | Modifiers::ALT | Modifiers::SUPER | Modifiers::META)
        {
            return Err(format!(
                "the {what} shortcut {keys:?} has no Ctrl, ⌘ or Alt: without one the keys would stop typing in every other app"
            ));
        }
    }
    let (a, b): (Shortcut, Shortcut) = (
        record.parse().map_err(|_| String::new())?,
        bookmark.parse().map_err(|_| String::new())?,
    );
    if a.id() == b.id() {
        return Err("the two shortcuts are the same keys; give each its own".into());
    }
    Ok(())
}

/// One shortcut as Settings shows it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ShortcutInfo {
    /// The keys, e.g. `CommandOrControl+Alt+R`.
    pub keys: String,
    /// What it does.
    pub action: Action,
    /// Why it does not work (another app holds it, no display), or `None` when it does.
    pub problem: Option<String>,
}

/// The shortcuts have been grabbed (after the window opened): what works and what does not.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct ShortcutsReady(pub Vec<ShortcutInfo>);

/// A global shortcut was pressed; the window acts on it.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ShortcutUsed {
    /// Start or stop: the record screen does what its buttons would.
    Record,
    /// A bookmark was added at this point of the recording (ms).
    Bookmarked {
        /// Position in the recording.
        at_ms: i64,
    },
    /// A bookmark was asked for while nothing is being recorded.
    NotRecording,
    /// The bookmark could not be saved (the recording goes on).
    Failed {
        /// Why, with the fix.
        message: String,
    },
}

/// Whether global shortcuts can exist here (on Linux they need an X11 display, XWayland
/// included); without one the plugin is left out and Settings says why.
pub fn available() -> bool {
    !cfg!(target_os = "linux") || std::env::var_os("DISPLAY").is_some()
}

/// How long after the page has loaded the shortcuts are grabbed (see `lib.rs`).
pub const AFTER_LOAD: std::time::Duration = std::time::Duration::from_millis(800);

/// Grabs every shortcut (the ones grabbed before are let go first), one at a time so that one
/// held by another app does not cost the others; returns them with what failed, for Settings.
pub fn register<R: Runtime>(app: &AppHandle<R>, preferences: &Preferences) -> Vec<ShortcutInfo> {
    let manager = app.try_state::<GlobalShortcut<R>>();
    if let Some(manager) = &manager
        && let Err(err) = manager.unregister_all()
    {
        tracing::warn!("cannot let go of the previous shortcuts: {err}");
    }
    chosen(preferences)
        .into_iter()
        .map(|(keys, action)| {
            let problem = if let Some(manager) = &manager {
                manager
                    .on_shortcut(
                        keys.as_str(),
                        move |app, _: &Shortcut, event: ShortcutEvent| {
                            if event.state() == ShortcutState::Pressed {
                                pressed(app, action);
                            }
                        },
                    )
                    .err()
                    .map(|err| {
                        tracing::warn!("the shortcut {keys} is not available: {err}");
                        format!("not available ({err}): another app may be using it")
                    })
            } else {
                Some("global shortcuts need an X11 display (DISPLAY is not set)".to_string())
            };
            ShortcutInfo {
                keys,
                action,
                problem,
            }
        })
        .collect()
}

/// Brings the window forward.
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Does what `action` does, as from its shortcut (the tray's menu uses it too).
pub fn pressed<R: Runtime>(app: &AppHandle<R>, action: Action) {
    let app = app.clone();
    match action {
        Action::Record => {
            show_window(&app);
            send(&app, ShortcutUsed::Record);
        }
        Action::Bookmark => {
            tauri::async_runtime::spawn(async move {
                let shell = app.state::<Shell>();
                let used = match shell.studio.add_note(NoteKind::Bookmark, "").await {
                    Ok(note) => ShortcutUsed::Bookmarked { at_ms: note.at_ms },
                    Err(err) if shell.studio.active().await.is_none() => {
                        tracing::info!("bookmark shortcut: {err}");
                        ShortcutUsed::NotRecording
                    }
                    Err(err) => {
                        tracing::warn!("bookmark shortcut: {err}");
                        ShortcutUsed::Failed {
                            message: err.to_string(),
                        }
                    }
                };
                send(&app, used);
            });
        }
    }
}

fn send<R: Runtime>(app: &AppHandle<R>, used: ShortcutUsed) {
    if let Err(err) = used.emit(app) {
        tracing::warn!("cannot tell the window about a shortcut: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_shortcut_needs_a_modifier_and_its_own_keys() {
        assert_eq!(check("CommandOrControl+Alt+R", "Ctrl+Shift+F8"), Ok(()));
        let message = |record: &str, bookmark: &str| check(record, bookmark).unwrap_err();
        assert!(message("K", "Alt+B").contains("has no Ctrl, ⌘ or Alt"));
        assert!(message("Shift+K", "Alt+B").contains("has no Ctrl, ⌘ or Alt"));
        assert!(
            message("Alt+R", "Ctrl+Banana")
                .contains("bookmark shortcut \"Ctrl+Banana\" is not a key combination")
        );
        assert!(message("Control+Alt+K", "Ctrl+Alt+K").contains("the same keys"));
        // The recruiter's choice wins over the default, per shortcut.
        let preferences = Preferences {
            bookmark_shortcut: Some("Ctrl+Alt+K".into()),
            ..Preferences::default()
        };
        assert_eq!(
            chosen(&preferences),
            [
                ("CommandOrControl+Alt+R".to_string(), Action::Record),
                ("Ctrl+Alt+K".to_string(), Action::Bookmark)
            ]
        );
    }
}
