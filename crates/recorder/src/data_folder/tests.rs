//! Moving a real data folder: database, recordings and logs copied, paths rebased, the settings
//! file pointed at the copy, refusals that leave everything as it was, and the old files
//! removed at the next start.

use super::*;
use hark_store::{NewSession, Store};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hark-move-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A data folder with one session whose recording is `recordings/<id>.ogg`, a log, and a
/// settings file naming a language.
fn data_folder(home: &Path) -> (PathBuf, PathBuf, uuid::Uuid) {
    let from = home.join("old");
    let store = Store::open(&from.join("hark.db")).unwrap();
    let interview = store.create_interview("Backend – Ada", None).unwrap();
    std::fs::create_dir_all(from.join("recordings")).unwrap();
    let recording = from.join("recordings/take.ogg");
    std::fs::write(&recording, vec![7u8; 100_000]).unwrap();
    let session = store
        .start_session(&NewSession {
            interview_id: interview.id,
            sources: vec!["microphone".into()],
            recording_path: Some(recording.display().to_string()),
            ..NewSession::default()
        })
        .unwrap();
    std::fs::create_dir_all(from.join("logs")).unwrap();
    std::fs::write(from.join("logs/hark.log"), "started\n").unwrap();
    let settings = home.join("config.toml");
    std::fs::write(&settings, "# mine\n[preferences]\nlanguage = \"de\"\n").unwrap();
    (from, settings, session.id)
}

#[test]
fn a_moved_folder_has_everything_and_the_settings_point_at_it() {
    let home = scratch("whole");
    let (from, settings, session) = data_folder(&home);
    let to = home.join("new/Interviews");
    let moved = move_folder(&from, &to, &settings).unwrap();
    assert_eq!(moved.files, 2);
    assert_eq!(moved.bytes, 100_000 + 8);
    assert_eq!(moved.recordings, 1);

    let store = Store::open(&to.join("hark.db")).unwrap();
    let detail = store.session(&session.to_string()).unwrap();
    let path = detail.session.recording_path.unwrap();
    assert_eq!(PathBuf::from(&path), to.join("recordings/take.ogg"));
    assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 100_000]);
    assert_eq!(
        std::fs::read_to_string(to.join("logs/hark.log")).unwrap(),
        "started\n"
    );
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("# mine\n"), "{text}");
    let config = crate::Config::load_with(Some(&settings), Default::default(), |_| None).unwrap();
    assert_eq!(config.data_dir, to);
    assert_eq!(config.preferences.language.as_deref(), Some("de"));
    // Nothing is removed before Hark runs from the new folder.
    assert!(from.join("hark.db").exists() && from.join("recordings/take.ogg").exists());

    // The next start, from the new folder, removes the old one.
    assert_eq!(finish_move(&to), Some(from.clone()));
    assert!(!from.exists(), "the old folder is gone");
    assert!(!to.join(MOVED_FROM).exists());
    assert_eq!(finish_move(&to), None);
    assert!(to.join("recordings/take.ogg").exists());
}

#[test]
fn what_else_is_in_the_old_folder_stays() {
    let home = scratch("others");
    let (from, settings, _) = data_folder(&home);
    std::fs::write(from.join("my notes.txt"), "keep me").unwrap();
    let to = home.join("new");
    move_folder(&from, &to, &settings).unwrap();
    // The copy has the stranger's file too; the old folder keeps it after the cleanup.
    assert!(to.join("my notes.txt").exists());
    finish_move(&to);
    assert_eq!(
        std::fs::read_to_string(from.join("my notes.txt")).unwrap(),
        "keep me"
    );
    assert!(!from.join("hark.db").exists() && !from.join("recordings").exists());
}

#[test]
fn unusable_folders_are_refused_with_the_reason_and_nothing_changes() {
    let home = scratch("refused");
    let (from, settings, _) = data_folder(&home);
    let before = std::fs::read_to_string(&settings).unwrap();
    let busy = home.join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("x"), "").unwrap();
    let file = home.join("a-file");
    std::fs::write(&file, "").unwrap();
    for (to, reason) in [
        (PathBuf::from("relative/folder"), "is not a full path"),
        (from.clone(), "already in"),
        (from.join("../old/."), "already in"),
        (
            from.join("recordings/inner"),
            "inside the current data folder",
        ),
        (busy.clone(), "is not empty"),
        (file.clone(), "is a file"),
    ] {
        let err = move_folder(&from, &to, &settings).unwrap_err().to_string();
        assert!(err.contains(reason), "{}: {err}", to.display());
    }
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
}

#[test]
fn a_failed_copy_leaves_the_settings_and_removes_the_partial_copy() {
    let home = scratch("failed");
    let (from, _, _) = data_folder(&home);
    // A settings file that is not valid: the copy is made, then the settings cannot be saved.
    let settings = home.join("broken.toml");
    std::fs::write(&settings, "data_dir = [").unwrap();
    let to = home.join("new");
    let err = move_folder(&from, &to, &settings).unwrap_err().to_string();
    assert!(err.contains("is not valid"), "{err}");
    assert!(!to.exists(), "the partial copy is removed");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "data_dir = [");
    assert!(from.join("recordings/take.ogg").exists());
    // An empty folder that existed stays, empty.
    let empty = home.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    move_folder(&from, &empty, &settings).unwrap_err();
    assert!(empty.exists());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[cfg(unix)]
#[test]
fn recordings_written_through_a_symbolic_link_move_too() {
    let home = scratch("symlink");
    let (real, settings, session) = data_folder(&home);
    // The settings name the folder through a link; the session's path uses the real folder.
    let link = home.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let to = home.join("new");
    let moved = move_folder(&link, &to, &settings).unwrap();
    assert_eq!(moved.recordings, 1);
    let store = Store::open(&to.join("hark.db")).unwrap();
    let path = store
        .session(&session.to_string())
        .unwrap()
        .session
        .recording_path
        .unwrap();
    assert_eq!(PathBuf::from(path), to.join("recordings/take.ogg"));
}
