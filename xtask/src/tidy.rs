//! Tidy checks run as ordinary tests: every Rust file opens with a `//!` line, and CI runs the
//! README's test command.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_doc_line() {
    let mut files = Vec::new();
    rust_files(&workspace_root(), &mut files);
    assert!(files.len() > 10, "found only {} Rust files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these files need a `//!` line saying what they are: {missing:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    let workflow = std::fs::read_to_string(root.join(".github/workflows/ci.yml")).expect("ci.yml");
    let command = "cargo xtask test";
    assert!(
        readme.contains(&format!("```sh\n{command}\n```")),
        "README must show `{command}`"
    );
    assert!(
        ci.lines()
            .any(|line| line.trim() == format!("exec {command}")),
        ".ci/run must exec `{command}`"
    );
    assert!(
        workflow.contains(&format!("run: {command}")),
        "ci.yml must run `{command}`"
    );
}
