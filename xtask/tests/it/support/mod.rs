//! Helpers for the end-to-end tests: a copy of this repository to run the real xtask binary
//! in, and a fake tool on PATH that records whether it was called.

#![allow(dead_code)]

pub mod deploy;

pub use test_wheels as wheels;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use ignore::WalkBuilder;

/// Sets a file's mtime to `age` ago.
pub fn set_age(path: &Path, age: Duration) {
    let file = fs::File::open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A copy of the repository as a fresh clone would have it: what git ignores (target/,
/// .aws-sam/, the function dir's copied src/) is left out.
pub struct RepoCopy {
    pub dir: tempfile::TempDir,
}

impl RepoCopy {
    pub fn new() -> RepoCopy {
        let dir = tempfile::tempdir().unwrap();
        let root = repo_root();
        let walker =
            WalkBuilder::new(&root).hidden(false).require_git(false).filter_entry(|e| e.file_name() != ".git").build();
        for entry in walker {
            let entry = entry.unwrap();
            let relative = entry.path().strip_prefix(&root).unwrap();
            if relative.as_os_str().is_empty() {
                continue;
            }
            let target = dir.path().join(relative);
            if entry.file_type().unwrap().is_dir() {
                fs::create_dir_all(&target).unwrap();
            } else {
                fs::copy(entry.path(), &target).unwrap();
                // Dated like a checkout made a while ago, not "just now": the xtask never trusts
                // the size and mtime of a file modified within the last two seconds.
                set_age(&target, Duration::from_secs(3600));
            }
        }
        RepoCopy { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file as an edit made a minute ago.
    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        set_age(&path, Duration::from_secs(60));
    }

    /// Appends to a file, as an edit made a minute ago.
    pub fn append(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        let mut content = fs::read_to_string(&path).unwrap();
        content.push_str(text);
        self.write(relative, &content);
    }

    pub fn xtask(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command.current_dir(self.dir.path()).env("NO_COLOR", "1").env_remove("CI").env_remove("GITHUB_ACTIONS");
        command
    }
}

/// A directory of fake executables to put first on PATH. Each records its arguments in
/// `<name>.calls` when run, and exits with the given status.
pub struct FakeBin {
    pub dir: tempfile::TempDir,
}

impl FakeBin {
    pub fn new() -> FakeBin {
        FakeBin { dir: tempfile::tempdir().unwrap() }
    }

    pub fn add(&self, name: &str, exit_status: i32) {
        self.add_script(name, &format!("exit {exit_status}"));
    }

    /// A fake tool that runs `body` (sh) after recording its arguments, e.g. a `sam` that
    /// lays down a prepared build output the real sam cannot produce.
    pub fn add_script(&self, name: &str, body: &str) {
        let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\n{body}\n", self.calls_path(name).display());
        let path = self.dir.path().join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn calls_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.calls"))
    }

    pub fn was_called(&self, name: &str) -> bool {
        self.calls_path(name).exists()
    }

    /// PATH with this directory first.
    pub fn path_env(&self) -> String {
        format!("{}:{}", self.dir.path().display(), std::env::var("PATH").unwrap_or_default())
    }
}

/// Every file below `root` with its content, to prove a failed run changed nothing.
pub fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = WalkBuilder::new(root)
        .standard_filters(false)
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| !t.is_dir()))
        .map(|e| (e.path().display().to_string(), fs::read(e.path()).unwrap_or_default()))
        .collect();
    files.sort();
    files
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Runs and returns (exit status, stdout + stderr).
pub fn run(command: &mut Command) -> (i32, String) {
    let output = command.output().expect("running the xtask binary");
    (output.status.code().unwrap_or(-1), text(&output))
}
