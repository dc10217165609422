//! Checks on what the installers are built from (`tauri.conf.json`'s `bundle`), for the systems
//! this machine cannot build them on: Windows needs an `.ico` (tauri-build refuses to compile the
//! app without one), macOS an `.icns`, a signed macOS app the microphone entitlement, and an
//! identifier that macOS does not take for an app bundle.

use std::path::{Path, PathBuf};

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn config() -> serde_json::Value {
    let config = std::fs::read_to_string(app_dir().join("tauri.conf.json")).unwrap();
    serde_json::from_str(&config).unwrap()
}

fn bundle() -> serde_json::Value {
    config()["bundle"].clone()
}

/// The one icon in `bundle.icon` whose name ends with `extension`, read.
fn icon(extension: &str) -> Vec<u8> {
    let bundle = bundle();
    let named: Vec<&str> = bundle["icon"]
        .as_array()
        .expect("bundle.icon lists the icons")
        .iter()
        .filter_map(|icon| icon.as_str())
        .filter(|icon| icon.ends_with(extension))
        .collect();
    let [path] = named[..] else {
        panic!(
            "bundle.icon should list one {extension} icon, not {named:?}: make them with `npm --prefix ui exec -- tauri icon src-tauri/icons/icon.png -o DIR` and copy DIR/icon.ico and DIR/icon.icns into src-tauri/icons"
        );
    };
    std::fs::read(app_dir().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The sizes (width, height) of an `.ico` file's images.
fn ico_sizes(ico: &[u8]) -> Vec<(u32, u32)> {
    assert_eq!(ico[..4], [0, 0, 1, 0], "not an .ico file");
    let count = u16::from_le_bytes([ico[4], ico[5]]) as usize;
    // One 16-byte entry per image after the 6-byte header; a size byte of 0 means 256.
    let size = |byte: u8| if byte == 0 { 256 } else { u32::from(byte) };
    (0..count)
        .map(|i| {
            let entry = &ico[6 + 16 * i..6 + 16 * (i + 1)];
            (size(entry[0]), size(entry[1]))
        })
        .collect()
}

#[test]
fn the_windows_icon_has_the_sizes_windows_shows() {
    let sizes = ico_sizes(&icon(".ico"));
    // The title bar and taskbar (16, 32), and Explorer's large icons and the installer (256).
    for wanted in [(16, 16), (32, 32), (256, 256)] {
        assert!(
            sizes.contains(&wanted),
            "icon.ico has {sizes:?}, not {wanted:?}"
        );
    }
}

#[test]
fn the_macos_icon_is_a_whole_icns_file() {
    let icns = icon(".icns");
    assert_eq!(&icns[..4], b"icns", "icon.icns is not an icns file");
    let declared = u32::from_be_bytes([icns[4], icns[5], icns[6], icns[7]]) as usize;
    assert_eq!(declared, icns.len(), "icon.icns is cut short");
}

/// Whether the plist `text` sets `key` to true.
fn plist_grants(text: &str, key: &str) -> bool {
    let Some((_, after)) = text.split_once(&format!("<key>{key}</key>")) else {
        return false;
    };
    after.trim_start().starts_with("<true/>")
}

#[test]
fn the_signed_macos_app_may_use_the_microphone() {
    let macos = &bundle()["macOS"];
    // The bundler signs with the hardened runtime (its default, stated here), which denies the
    // microphone to an app without the entitlement, silently.
    assert_eq!(
        macos["hardenedRuntime"], true,
        "bundle.macOS.hardenedRuntime"
    );
    let path = macos["entitlements"]
        .as_str()
        .expect("bundle.macOS.entitlements names the entitlements file");
    let entitlements = std::fs::read_to_string(app_dir().join(path)).unwrap();
    assert!(
        plist_grants(&entitlements, "com.apple.security.device.audio-input"),
        "{path} does not grant com.apple.security.device.audio-input"
    );
    // And the question macOS asks the user, merged into the bundle's Info.plist.
    let info = std::fs::read_to_string(app_dir().join("Info.plist")).unwrap();
    for key in [
        "NSMicrophoneUsageDescription",
        "NSAudioCaptureUsageDescription",
    ] {
        assert!(
            info.contains(&format!("<key>{key}</key>")),
            "Info.plist has no {key}"
        );
    }
}

#[test]
fn the_identifier_does_not_look_like_an_app_bundle() {
    let config = config();
    let identifier = config["identifier"].as_str().unwrap();
    // macOS names Hark's folders after it (`~/Library/Application Support/<identifier>`), and
    // Finder shows a folder ending in `.app` as a (broken) application.
    assert!(
        !identifier.ends_with(".app"),
        "the identifier {identifier} ends with .app"
    );
}

#[test]
fn a_plist_key_set_to_false_or_missing_is_not_granted() {
    let plist = "<dict>\n  <key>a</key>\n  <true/>\n  <key>b</key>\n  <false/>\n</dict>";
    assert!(plist_grants(plist, "a"));
    assert!(!plist_grants(plist, "b"));
    assert!(!plist_grants(plist, "c"));
}
