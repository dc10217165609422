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
