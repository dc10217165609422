//! The committed TypeScript bindings match the commands; and the app starts on the mock runtime
//! and answers a command.

use std::path::Path;

use super::*;

#[test]
fn the_committed_bindings_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed_path = root.join(BINDINGS);
    let fresh_path = std::env::temp_dir().join(format!("hark-bindings-{}.ts", std::process::id()));
    builder::<tauri::Wry>()
        .export(typescript(), &fresh_path)
        .expect("bindings export");
    let fresh = std::fs::read_to_string(&fresh_path).unwrap();
    std::fs::remove_file(&fresh_path).ok();
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if committed != fresh {
        if std::env::var_os("HARK_UPDATE_BINDINGS").is_some() {
            std::fs::write(&committed_path, &fresh).unwrap();
        } else {
            panic!(
                "{} is stale: run `HARK_UPDATE_BINDINGS=1 cargo test -p hark-desktop bindings` and commit it",
                committed_path.display()
            );
        }
    }
}

/// Every command the UI's bindings call is declared to Tauri's build step (`build.rs`) and
/// granted to the main window (`capabilities/main.json`); a command missing from either is
/// refused at run time with "not allowed".
#[test]
fn every_bound_command_is_declared_and_granted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = std::fs::read_to_string(root.join("..").join(BINDINGS)).unwrap();
    let build = std::fs::read_to_string(root.join("build.rs")).unwrap();
    let capability: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("capabilities/main.json")).unwrap(),
    )
    .unwrap();
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let commands: Vec<&str> = bindings
        .split("__TAURI_INVOKE(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(commands.len() > 20, "found {commands:?}");
    for command in commands {
        assert!(
            build.contains(&format!("\"{command}\",")),
            "{command} is not in build.rs's command list"
        );
        let permission = format!("allow-{}", command.replace('_', "-"));
        assert!(
            granted.contains(&permission.as_str()),
            "capabilities/main.json does not grant {permission}"
        );
    }
}
