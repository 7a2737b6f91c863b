//! What a repository that adopted the xtask holds for the xtask and cargo rather than for
//! Lambda, and which of its files git shows.
//!
//! SAM's default CodeUri is the template's directory, often the repository root, and sam
//! copies a function's CodeUri whole (less a short list of Python names, `EXCLUDED_FILES` in
//! aws-lambda-builders' python_pip workflow, none of them cargo's). A function dir that holds
//! any of these paths is built from a staged copy of what git shows of it instead (see
//! [`crate::build::stage`]), so `target/` with its hundreds of megabytes, `xtask/`, the
//! `Cargo.*` files, sam's own `.aws-sam/` and whatever git ignores never ship.

use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::bad_input;
use crate::project::config::Project;
use crate::sys::layout;

/// Rust's files at the root, by name: the workspace manifest and lock, toolchain and lint
/// configuration, cargo's own configuration and output, the xtask and crates.
const ROOT_NAMES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
    "target",
    "xtask",
    "crates",
    "rust-toolchain",
    "rust-toolchain.toml",
    "rustfmt.toml",
    ".rustfmt.toml",
    "clippy.toml",
    ".clippy.toml",
    "deny.toml",
    ".git",
];

/// The repository's paths that belong to the xtask, relative to its root.
#[derive(Debug, Clone)]
pub struct ToolFiles {
    paths: Vec<PathBuf>,
}

impl ToolFiles {
    pub fn of(project: &Project) -> ToolFiles {
        let mut paths: Vec<PathBuf> = ROOT_NAMES.iter().map(PathBuf::from).collect();
        paths.extend(workspace_members(&project.root));
        let relative = |path: PathBuf| path.strip_prefix(&project.root).map(Path::to_path_buf).ok();
        paths.extend(relative(layout::aws_sam_dir(&project.sam_dir())));
        paths.push(project.config.deploy.log.clone());
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
            paths.extend(if target.is_absolute() { relative(target) } else { Some(target) });
        }
        paths.retain(|p| p.components().all(|c| matches!(c, Component::Normal(_))) && !p.as_os_str().is_empty());
        paths.sort();
        paths.dedup();
        ToolFiles { paths }
    }

    /// True when `dir` (relative to the root) holds one of them: sam would ship it.
    pub fn inside(&self, dir: &Path) -> bool {
        self.paths.iter().any(|p| p.starts_with(dir))
    }

    /// True when `relative` is one of them or lies below one.
    pub fn covers(&self, relative: &Path) -> bool {
        self.paths.iter().any(|p| relative.starts_with(p))
    }

    /// Those that exist inside `dir`, relative to the root, for the line that says what stays out.
    pub fn present_in(&self, root: &Path, dir: &Path) -> Vec<&Path> {
        self.paths
            .iter()
            .filter(|p| p.starts_with(dir) && std::fs::symlink_metadata(root.join(p)).is_ok())
            .map(PathBuf::as_path)
            .collect()
    }
}

/// The `[workspace] members` of the root manifest, each up to its first glob character
/// (`crates/*` is `crates`): Rust crates, never a function's code.
fn workspace_members(root: &Path) -> Vec<PathBuf> {
    let Ok(text) = crate::sys::beneath::read_to_string(root.join("Cargo.toml")) else { return Vec::new() };
    let Ok(manifest) = text.parse::<toml::Table>() else { return Vec::new() };
    let Some(members) = manifest.get("workspace").and_then(|w| w.get("members")).and_then(|m| m.as_array()) else {
        return Vec::new();
    };
    members
        .iter()
        .filter_map(|m| m.as_str())
        .map(|m| m.split(['*', '?', '[']).next().unwrap_or_default().trim_end_matches('/'))
        .filter(|m| !m.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Every file git shows below `dir` (relative to the root): tracked, and untracked but not
/// ignored, relative to the root and sorted. A tracked file deleted from the tree is left out.
/// Outside a git checkout, bad input: what is the xtask's and what is ignored cannot be told.
pub fn visible_files(root: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut command = Command::new("git");
    command.arg("-C").arg(root).args(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"]);
    command.arg(if dir.as_os_str().is_empty() { Path::new(".") } else { dir });
    let listed = match crate::sys::process::capture_bytes(command, "git ls-files", Some(Duration::from_secs(120))) {
        Ok(listed) => listed,
        Err(err) if crate::sys::process::interrupted() => return Err(err),
        Err(_) => bad_input!(
            "{} holds the xtask's own files, so only what git shows of it is built, and {} is not a git checkout: run git init and commit, or give the function its own directory (CodeUri)",
            shown(dir),
            root.display()
        ),
    };
    let mut files: Vec<PathBuf> = listed
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name)))
        .filter(|path| std::fs::symlink_metadata(root.join(path)).is_ok())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// A dir relative to the root as output shows it: `.` for the root itself.
pub fn shown(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        ".".to_string()
    } else {
        dir.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &Path, manifest: &str, template: &str) -> Project {
        std::fs::create_dir_all(dir.join(Path::new(template).parent().unwrap())).unwrap();
        std::fs::write(dir.join(template), "Resources: {}\n").unwrap();
        let manifest = format!("{manifest}\n[workspace.metadata.lambda]\ntemplate = \"{template}\"\n");
        std::fs::write(dir.join("Cargo.toml"), &manifest).unwrap();
        Project::load(dir, &manifest).unwrap()
    }

    #[test]
    fn the_root_and_the_template_dir_hold_tool_files_a_code_dir_does_not() {
        let repo = tempfile::tempdir().unwrap();
        let p = project(repo.path(), "[workspace]\nmembers = [\"xtask\", \"tools/*\"]\n", "infra/template.yaml");
        let tool = ToolFiles::of(&p);
        assert!(tool.inside(Path::new("")));
        assert!(tool.inside(Path::new("infra")), "infra/.aws-sam is sam's");
        assert!(!tool.inside(Path::new("infra/hello")));
        assert!(!tool.inside(Path::new("src")));
        for covered in [
            "xtask/src/main.rs",
            "target/debug/x",
            "Cargo.lock",
            "tools/lint/src/lib.rs",
            "infra/.aws-sam/build/F/app.py",
            "deploy-log.jsonl",
        ] {
            assert!(tool.covers(Path::new(covered)), "{covered}");
        }
        for shipped in ["app.py", "src/xtask.py", "infra/template.yaml", "targets/x.py", "hello/Cargo.toml"] {
            assert!(!tool.covers(Path::new(shipped)), "{shipped}");
        }
    }
}
