//! Tauri's build step: embeds the config and the UI, and declares the app's commands so the
//! capability files can grant the webview exactly the ones it uses.

fn main() {
    let commands = tauri_build::AppManifest::new().commands(hark_desktop_commands());
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(commands))
        .expect("tauri build step");
}

/// Every command the shell registers (kept in step with the bindings and the capability by a test in `bindings/tests.rs`).
fn hark_desktop_commands() -> &'static [&'static str] {
    &[
        "app_info",
        "finish_first_run",
        "save_preferences",
        "save_shortcuts",
        "connect_organisation",
        "take_link",
        "choose_data_folder",
        "move_data_folder",
        "check_for_updates",
        "install_update",
        "list_devices",
        "list_interviews",
        "start_recording",
        "recording_status",
        "pause_recording",
        "show_levels",
        "add_note",
        "stop_recording",
        "list_sessions",
        "search_transcripts",
        "session_detail",
        "share_session",
        "export_session",
        "save_export",
        "play_recording",
        "pause_playback",
        "playback_status",
        "edit_segment",
        "rename_speaker",
        "delete_session",
        "account_status",
        "sign_in_password",
        "send_email_code",
        "verify_email_code",
        "sign_in_email_link",
        "sign_in_sso",
        "sign_out",
        "sync_now",
        "diagnostics",
    ]
}
