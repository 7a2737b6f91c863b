//! The files an adopted repository holds of its own, beside its root Cargo.toml: the thin
//! `xtask/` and the `cargo xtask` alias. Planned (and refused where they would clash) before
//! anything is written.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bad_input;
use crate::cli::InitArgs;

/// The build profile we recommend for the xtask, written into a new root Cargo.toml: the guard
/// scan and the packaging run about twice as fast at opt-level 1 as at 0, and line tables keep
/// a panic's backtrace readable at a fraction of full debug info's link time.
pub const PROFILE: &str = "# How cargo builds the xtask: opt-level 1 makes the guard scan and the packaging about twice
# as fast as opt-level 0; line tables keep backtraces readable.
[profile.dev]
opt-level = 1
debug = \"line-tables-only\"
";

/// `xtask/src/main.rs`: the whole program is the library's.
pub const MAIN_RS: &str = "fn main() -> std::process::ExitCode {\n    lambda_xtask::main()\n}\n";

const ALIAS: &str = "xtask = \"run --package xtask --\"";

/// Where the xtask takes the library from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibrarySource {
    Git { url: String, reference: GitReference },
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitReference {
    Tag(String),
    Rev(String),
    DefaultBranch,
}

impl LibrarySource {
    /// The flags; else where this binary was installed from (`cargo install` records it);
    /// else the clone it was built in, when that is still there and is not cargo's cache.
    pub fn choose(args: &InitArgs) -> Result<LibrarySource> {
        if let Some(url) = &args.git {
            let reference = match (&args.tag, &args.rev) {
                (Some(tag), _) => GitReference::Tag(tag.clone()),
                (None, Some(rev)) => GitReference::Rev(rev.clone()),
                (None, None) => GitReference::DefaultBranch,
            };
            return Ok(LibrarySource::Git { url: url.clone(), reference });
        }
        if let Some(path) = &args.path {
            let absolute = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
            if !absolute.join("Cargo.toml").is_file() {
                bad_input!(
                    "--path {}: no Cargo.toml there; name the lambda-xtask crate's directory (crates/lambda-xtask in its repository)",
                    path.display()
                )
            }
            return Ok(LibrarySource::Path(absolute));
        }
        let cargo_home = cargo_home();
        if let Some(source) = cargo_home.as_deref().and_then(installed_from) {
            return Ok(source);
        }
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR"));
        // Only cargo's own caches of downloaded sources: a CARGO_HOME that holds the clone
        // itself (CI machines set it to a work directory) still counts as a clone.
        let in_cargo_cache = cargo_home
            .as_deref()
            .is_some_and(|home| built_in.starts_with(home.join("registry")) || built_in.starts_with(home.join("git")));
        if built_in.join("Cargo.toml").is_file() && !in_cargo_cache {
            return Ok(LibrarySource::Path(built_in.to_path_buf()));
        }
        let why = if in_cargo_cache {
            format!("this binary was built in cargo's cache, {}", built_in.display())
        } else {
            format!("{} is gone", built_in.join("Cargo.toml").display())
        };
        bad_input!(
            "no xtask/ here and no known source for the lambda-xtask library ({why}): pass --git URL --tag TAG (the repository and release to depend on) or --path DIR"
        )
    }

    /// The dependency line of xtask/Cargo.toml, a path relative to `xtask/` where it can be.
    fn dependency(&self, root: &Path) -> String {
        match self {
            LibrarySource::Git { url, reference } => {
                let pin = match reference {
                    GitReference::Tag(tag) => format!(", tag = {}", toml_string(tag)),
                    GitReference::Rev(rev) => format!(", rev = {}", toml_string(rev)),
                    GitReference::DefaultBranch => String::new(),
                };
                format!("lambda-xtask = {{ git = {}{pin} }}", toml_string(url))
            }
            LibrarySource::Path(path) => {
                let shown = match path.strip_prefix(root) {
                    Ok(inside) => Path::new("..").join(inside),
                    Err(_) => path.clone(),
                };
                format!("lambda-xtask = {{ path = {} }}", toml_string(&shown.to_string_lossy()))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            LibrarySource::Git { url, reference: GitReference::Tag(tag) } => format!("{url}, tag {tag}"),
            LibrarySource::Git { url, reference: GitReference::Rev(rev) } => format!("{url}, rev {rev}"),
            LibrarySource::Git { url, reference: GitReference::DefaultBranch } => {
                format!("{url}, its default branch (pin a --tag for reproducible builds)")
            }
            LibrarySource::Path(path) => format!("the path {}", path.display()),
        }
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn cargo_home() -> Option<PathBuf> {
    // An empty variable is unset, as cargo reads it (an empty path would prefix every path).
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    set("CARGO_HOME").or_else(|| set("HOME").map(|home| home.join(".cargo"))).filter(|home| home.is_absolute())
}

/// What `cargo install` recorded for this binary in `$CARGO_HOME/.crates2.json`, when this
/// binary is the installed `lambda-xtask` of this version.
fn installed_from(cargo_home: &Path) -> Option<LibrarySource> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let installed = cargo_home.join("bin/lambda-xtask").canonicalize().ok()?;
    if exe != installed {
        return None;
    }
    let record: serde_json::Value =
        serde_json::from_slice(&crate::sys::beneath::read(cargo_home.join(".crates2.json")).ok()?).ok()?;
    let prefix = format!("lambda-xtask {} (", crate::version::VERSION);
    let key = record.get("installs")?.as_object()?.keys().find(|k| k.starts_with(&prefix))?.clone();
    parse_install_source(key.strip_prefix(&prefix)?.strip_suffix(')')?)
}

/// `git+URL?tag=T#sha`, `git+URL?rev=R#sha`, `git+URL#sha`, `path+file:///DIR`.
fn parse_install_source(source: &str) -> Option<LibrarySource> {
    if let Some(path) = source.strip_prefix("path+file://") {
        return Some(LibrarySource::Path(PathBuf::from(path)));
    }
    let rest = source.strip_prefix("git+")?;
    let (location, commit) = rest.split_once('#').unwrap_or((rest, ""));
    let (url, query) = location.split_once('?').unwrap_or((location, ""));
    let reference = match query.split_once('=') {
        Some(("tag", tag)) => GitReference::Tag(tag.to_string()),
        Some(("rev", rev)) => GitReference::Rev(rev.to_string()),
        // A branch install: pin the commit it was, not the moving branch.
        _ if !commit.is_empty() => GitReference::Rev(commit.to_string()),
        _ => GitReference::DefaultBranch,
    };
    Some(LibrarySource::Git { url: url.to_string(), reference })
}

/// Whether a workspace manifest's members include `member`.
pub fn names_member(manifest: &str, member: &str) -> bool {
    let Ok(value) = manifest.parse::<toml::Table>() else { return false };
    let members = value.get("workspace").and_then(|w| w.get("members")).and_then(|m| m.as_array());
    members.is_some_and(|members| {
        members.iter().filter_map(|m| m.as_str()).any(|m| m == member || m == "*" || m == format!("{member}/"))
    })
}

/// The files lambda-init writes besides Cargo.toml and .gitignore, decided up front.
pub struct Scaffold {
    files: Vec<(PathBuf, String)>,
}

impl Scaffold {
    /// The thin xtask when `library` is given (there is no `xtask/` yet), and the alias when
    /// `.cargo/config.toml` has none. A config with an `[alias]` table of its own is edited by
    /// hand: appending a second one would break it.
    pub fn plan(root: &Path, library: Option<&LibrarySource>) -> Result<Scaffold> {
        let mut files = Vec::new();
        if let Some(library) = library {
            let cargo_toml = format!(
                "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{}\n",
                library.dependency(root)
            );
            files.push((PathBuf::from("xtask/Cargo.toml"), cargo_toml));
            files.push((PathBuf::from("xtask/src/main.rs"), MAIN_RS.to_string()));
        } else if !root.join("xtask/Cargo.toml").is_file() {
            bad_input!("xtask exists but holds no Cargo.toml: move it aside (lambda-init writes the xtask), then run lambda-init again")
        }
        let config_path = root.join(".cargo/config.toml");
        let config = crate::sys::beneath::read_to_string(&config_path).unwrap_or_default();
        let has_alias = config.lines().any(|l| l.trim_start().starts_with("xtask") && l.contains('='));
        if !has_alias {
            if config.lines().any(|l| l.trim() == "[alias]") {
                bad_input!(
                    ".cargo/config.toml has an [alias] table without xtask: add the line {ALIAS} to it, then run lambda-init again"
                )
            }
            let mut text = config.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[alias]\n{ALIAS}\n"));
            files.push((PathBuf::from(".cargo/config.toml"), text));
        }
        Ok(Scaffold { files })
    }

    /// Writes the planned files; returns their paths, relative to `root`.
    pub fn write(&self, root: &Path) -> Result<Vec<PathBuf>> {
        for (relative, text) in &self.files {
            let path = root.join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            crate::sys::atomic::write_atomically(&path, text)?;
        }
        Ok(self.files.iter().map(|(path, _)| path.clone()).collect())
    }

    pub fn describe(&self, library: Option<&LibrarySource>) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(library) = library {
            lines.push(format!(
                "wrote xtask/Cargo.toml and xtask/src/main.rs: the thin xtask over the lambda-xtask library from {}",
                library.describe()
            ));
        }
        if self.files.iter().any(|(path, _)| path == Path::new(".cargo/config.toml")) {
            lines.push(format!("wrote .cargo/config.toml: the alias {ALIAS}"));
        }
        lines
    }
}

/// A file git would leave out of a commit, with the rule that hides it.
pub struct Hidden {
    pub path: String,
    pub rule: String,
}

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (by {})", self.path, self.rule)
    }
}

/// Which of `paths` (relative to `root`) git ignores, by `git check-ignore -v`; none outside a
/// git repository or without git.
pub fn ignored_by_git(root: &Path, paths: &[PathBuf]) -> Vec<Hidden> {
    let mut command = Command::new("git");
    command.arg("-C").arg(root).args(["check-ignore", "-v", "--"]).args(paths);
    // Exit status 0: some are ignored, one line each; 1: none is; 128: not a repository.
    let Ok(out) = crate::sys::process::capture(command, "git check-ignore", Some(Duration::from_secs(30))) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|line| {
            let (rule, path) = line.split_once('\t')?;
            Some(Hidden { path: path.to_string(), rule: rule.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_records_name_the_source_to_depend_on() {
        let git = |url: &str, reference| Some(LibrarySource::Git { url: url.into(), reference });
        assert_eq!(
            parse_install_source("git+https://example.com/org/lambda-xtask?tag=v0.2.0#0123abc"),
            git("https://example.com/org/lambda-xtask", GitReference::Tag("v0.2.0".into()))
        );
        assert_eq!(
            parse_install_source("git+file:///srv/lambda-xtask?rev=0123abc#0123abcdef"),
            git("file:///srv/lambda-xtask", GitReference::Rev("0123abc".into()))
        );
        // A branch install is pinned to the commit it was.
        assert_eq!(
            parse_install_source("git+https://example.com/x?branch=main#feedbeef"),
            git("https://example.com/x", GitReference::Rev("feedbeef".into()))
        );
        assert_eq!(
            parse_install_source("path+file:///home/me/lambda-xtask/crates/lambda-xtask"),
            Some(LibrarySource::Path(PathBuf::from("/home/me/lambda-xtask/crates/lambda-xtask")))
        );
        assert_eq!(parse_install_source("registry+https://github.com/rust-lang/crates.io-index"), None);
    }

    #[test]
    fn dependency_lines_are_valid_toml_and_relative_inside_the_repository() {
        let root = Path::new("/repo");
        let tag = LibrarySource::Git { url: "https://h/o/r".into(), reference: GitReference::Tag("v1\"x".into()) };
        let line = tag.dependency(root);
        let parsed: toml::Table = line.parse().unwrap();
        assert_eq!(parsed["lambda-xtask"]["tag"].as_str(), Some("v1\"x"));
        let vendored = LibrarySource::Path(PathBuf::from("/repo/vendor/lambda-xtask"));
        assert_eq!(vendored.dependency(root), "lambda-xtask = { path = \"../vendor/lambda-xtask\" }");
        let outside = LibrarySource::Path(PathBuf::from("/src/lambda-xtask/crates/lambda-xtask"));
        assert_eq!(outside.dependency(root), "lambda-xtask = { path = \"/src/lambda-xtask/crates/lambda-xtask\" }");
    }

    #[test]
    fn workspace_members_are_read_from_the_manifest() {
        assert!(names_member("[workspace]\nmembers = [\"xtask\", \"app\"]\n", "xtask"));
        assert!(names_member("[workspace]\nmembers = [\"*\"]\n", "xtask"));
        assert!(!names_member("[workspace]\nmembers = [\"app\"]\n", "xtask"));
        assert!(!names_member("[workspace]\n", "xtask"));
        assert!(!names_member("[workspace\n", "xtask"));
    }
}
