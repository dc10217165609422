//! Moving the data folder: the database copied consistently (SQLite's `VACUUM INTO`), the
//! recordings and logs copied and checked, the recordings' paths pointed at the copies, and the
//! settings file pointed at the new folder. The old folder's files are removed at the next start,
//! once Hark runs from the new one ([`finish_move`]); until then nothing is lost if anything fails.

use std::path::{Component, Path, PathBuf};

use hark_store::Store;
use serde::Serialize;

use crate::error::{RecorderError, Result};

/// The note a moved folder keeps until the old folder is emptied: the old folder's path.
pub const MOVED_FROM: &str = "moved-from.txt";

/// The database's files, copied through SQLite rather than byte by byte.
const DATABASE_FILES: [&str; 3] = ["hark.db", "hark.db-wal", "hark.db-shm"];

/// What Hark keeps in a data folder besides the database (removed from the old folder).
const HARK_FOLDERS: [&str; 2] = ["recordings", "logs"];

/// What a move copied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Moved {
    /// The new folder.
    pub to: String,
    /// Files copied besides the database.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Sessions whose recording moved.
    pub recordings: usize,
}

fn invalid(message: String) -> RecorderError {
    RecorderError::Invalid(message)
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> RecorderError {
    let fix = if err.raw_os_error() == Some(28) {
        "the disk is full; free space or choose a folder on another disk"
    } else {
        "check that the folder is writable"
    };
    RecorderError::Invalid(format!(
        "cannot {what} {} ({err}); {fix}. Nothing was moved",
        path.display()
    ))
}

/// `path` with `.` and `..` resolved and, where it exists, symbolic links followed.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    match (out.parent(), out.file_name()) {
        (Some(parent), Some(name)) if parent != out => resolved(parent).join(name),
        _ => out,
    }
}

/// Checks that `to` can take the data folder `from`: a full path, not `from` or inside it, and
/// an empty or new folder. Returns it resolved.
pub fn check_target(from: &Path, to: &Path) -> Result<PathBuf> {
    if !to.is_absolute() {
        return Err(invalid(format!(
            "{} is not a full path: give the whole path, such as {}",
            to.display(),
            dirs::home_dir()
                .unwrap_or_else(|| PathBuf::from("/home/you"))
                .join("Interviews")
                .display()
        )));
    }
    let (from, to) = (resolved(from), resolved(to));
    if from == to {
        return Err(invalid(format!(
            "the sessions are already in {}: choose another folder",
            to.display()
        )));
    }
    if to.starts_with(&from) {
        return Err(invalid(format!(
            "{} is inside the current data folder {}: choose a folder outside it",
            to.display(),
            from.display()
        )));
    }
    if to.exists() {
        if !to.is_dir() {
            return Err(invalid(format!(
                "{} is a file: choose a folder",
                to.display()
            )));
        }
        let mut entries =
            std::fs::read_dir(&to).map_err(|err| io_error("read the folder", &to, err))?;
        if entries.next().is_some() {
            return Err(invalid(format!(
                "{} is not empty: choose an empty or new folder (Hark puts hark.db, recordings and logs in it)",
                to.display()
            )));
        }
    }
    Ok(to)
}

/// Copies the data folder `from` to `to` (see [`check_target`]) and points the settings file
/// `settings` at it; the app must restart to use it. On any failure the new folder is emptied
/// again and the settings are unchanged.
pub fn move_folder(from: &Path, to: &Path, settings: &Path) -> Result<Moved> {
    let to = check_target(from, to)?;
    let created = !to.exists();
    let moved = copy_folder(from, &to)
        .and_then(|moved| crate::config::save_data_dir(settings, &to).map(|()| moved));
    if moved.is_err() {
        let emptied = if created {
            std::fs::remove_dir_all(&to)
        } else {
            empty(&to)
        };
        if let Err(err) = emptied {
            tracing::warn!("cannot remove the partial copy in {}: {err}", to.display());
        }
    }
    moved
}

fn empty(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn copy_folder(from: &Path, to: &Path) -> Result<Moved> {
    std::fs::create_dir_all(to).map_err(|err| io_error("create", to, err))?;
    let mut moved = Moved {
        to: to.display().to_string(),
        files: 0,
        bytes: 0,
        recordings: 0,
    };
    copy_tree(from, to, true, &mut moved)?;
    let database = from.join("hark.db");
    if database.exists() {
        let copy = to.join("hark.db");
        Store::open(&database)?.copy_to(&copy)?;
        let prefix = |dir: &Path| {
            let mut text = dir.display().to_string();
            if !text.ends_with(std::path::MAIN_SEPARATOR) {
                text.push(std::path::MAIN_SEPARATOR);
            }
            text
        };
        // The paths were written with the folder as configured; through a symbolic link that
        // differs from the folder resolved.
        let copy = Store::open(&copy)?;
        moved.recordings = copy.rebase_recordings(&prefix(from), &prefix(to))?;
        let real = resolved(from);
        if real != from {
            moved.recordings += copy.rebase_recordings(&prefix(&real), &prefix(to))?;
        }
    }
    let note = to.join(MOVED_FROM);
    std::fs::write(&note, resolved(from).display().to_string())
        .map_err(|err| io_error("write", &note, err))?;
    Ok(moved)
}

/// Copies every file under `from` to `to`, checking each copy's size; the database files at
/// the top are left to SQLite. A log may grow while it is copied.
fn copy_tree(from: &Path, to: &Path, top: bool, moved: &mut Moved) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|err| io_error("read", from, err))?;
    for entry in entries {
        let entry = entry.map_err(|err| io_error("read", from, err))?;
        let name = entry.file_name();
        if top
            && name
                .to_str()
                .is_some_and(|name| DATABASE_FILES.contains(&name) || name == MOVED_FROM)
        {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry
            .file_type()
            .map_err(|err| io_error("read", &source, err))?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|err| io_error("create", &target, err))?;
            copy_tree(&source, &target, false, moved)?;
        } else if kind.is_file() {
            let copied =
                std::fs::copy(&source, &target).map_err(|err| io_error("copy to", &target, err))?;
            let written = std::fs::metadata(&target)
                .map_err(|err| io_error("read", &target, err))?
                .len();
            if written != copied {
                return Err(invalid(format!(
                    "the copy of {} in {} is incomplete ({written} of {copied} bytes); nothing was moved",
                    source.display(),
                    to.display()
                )));
            }
            moved.files += 1;
            moved.bytes += copied;
        }
    }
    Ok(())
}

/// At start, in the data folder in use: when it was moved here, removes Hark's files from the
/// old folder (and the folder, if nothing else is left in it). Returns the old folder then.
pub fn finish_move(data_dir: &Path) -> Option<PathBuf> {
    let note = data_dir.join(MOVED_FROM);
    let old = PathBuf::from(std::fs::read_to_string(&note).ok()?.trim());
    // Only once Hark runs from here, and never the folder in use.
    if !data_dir.join("hark.db").exists() || resolved(&old) == resolved(data_dir) {
        let _ = std::fs::remove_file(&note);
        return None;
    }
    let mut problems = Vec::new();
    for name in DATABASE_FILES {
        match std::fs::remove_file(old.join(name)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => problems.push(err),
            _ => {}
        }
    }
    for name in HARK_FOLDERS {
        match std::fs::remove_dir_all(old.join(name)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => problems.push(err),
            _ => {}
        }
    }
    if problems.is_empty() {
        // Only when empty: whatever else someone kept there stays.
        let _ = std::fs::remove_dir(&old);
        let _ = std::fs::remove_file(&note);
        tracing::info!(
            "the data folder moved here from {}; removed its old files",
            old.display()
        );
    } else {
        tracing::warn!(
            "the data folder moved here from {}, but its old files could not all be removed (tried again at the next start): {problems:?}",
            old.display()
        );
    }
    Some(old)
}

#[cfg(test)]
mod tests;
