//! The commit being deployed, whether the tree matches it, and which remote branches hold it:
//! recorded in the audit log and as stack tags; a dirty tree or an unpushed commit refused for
//! protected environments.
//!
//! The xtask's own outputs ([`OwnOutput`]: `.aws-sam/`, the audit log, a `--json` report, its
//! tool venvs when the cache is inside the repository, the backend copied into a function
//! dir) are not changes: git is asked about everything else, with an exclude pathspec for
//! each, whether or not the repository ignores them. Exactly those outputs and nothing else:
//! a path under which git tracks a file holds something a commit made, not the xtask, so it
//! is not excluded; and the audit log, which the xtask only appends to, is excluded while
//! untracked, or while it still begins with what HEAD holds (a committed line edited is a
//! change).

use std::path::{Path, PathBuf};
use std::time::Duration;

use xshell::{cmd, Shell};

use crate::sys::process;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitState {
    /// HEAD's full hash; `None` outside a git checkout (or without git).
    pub commit: Option<String>,
    /// Uncommitted or untracked changes; `None` when that cannot be told.
    pub dirty: Option<bool>,
    /// The changed paths, as `git status` lists them (relative to the repository's top).
    pub changes: Vec<String>,
    /// The exclude pathspecs of the xtask's outputs, for a fix that leaves them alone.
    pub excluded: Vec<String>,
    /// The remote-tracking branches that contain HEAD (`origin/main`); `None` when that cannot
    /// be told. Read from the refs git has (no network): a branch pushed from elsewhere shows
    /// once fetched.
    pub remote_branches: Option<Vec<String>>,
    pub remote: RemoteFacts,
}

/// What a fix that pushes the commit needs to name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteFacts {
    /// `git remote`: the remotes' names (never their URLs, which can hold a token).
    pub remotes: Vec<String>,
    /// The checked-out branch; `None` on a detached HEAD.
    pub branch: Option<String>,
    /// The remote the branch pushes to (`branch.<name>.remote`), when set.
    pub upstream_remote: Option<String>,
    /// A shallow clone cannot tell whether an older commit is on a remote branch.
    pub shallow: bool,
}

/// One of the xtask's own outputs, which are no change of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnOutput {
    /// A file or directory the xtask writes whole (`.aws-sam`, a report, a copied backend, a
    /// tool venv): excluded while git tracks nothing in it.
    Written(PathBuf),
    /// A file the xtask only appends to (the audit log): excluded while git does not track
    /// it, or while it still begins with HEAD's version of it.
    Appended(PathBuf),
}

impl OwnOutput {
    fn path(&self) -> &Path {
        match self {
            OwnOutput::Written(path) | OwnOutput::Appended(path) => path,
        }
    }
}

/// An output's path relative to `root`, as git's pathspecs take it; `None` outside `root`.
fn relative_text(root: &Path, path: &Path) -> Option<String> {
    let relative = if path.is_absolute() { path.strip_prefix(root).ok()? } else { path };
    let text = relative.to_str()?.trim_end_matches('/');
    (!text.is_empty() && !text.starts_with("..")).then(|| text.to_string())
}

/// `:(exclude)<path>` for each of `relative` (paths inside the project).
pub fn exclude_pathspecs(relative: &[String]) -> Vec<String> {
    let mut specs: Vec<String> = relative.iter().map(|text| format!(":(exclude){text}")).collect();
    specs.sort();
    specs.dedup();
    specs
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

fn git(sh: &Shell, root: &Path, args: &[&str], what: &str) -> Option<String> {
    process::capture(cmd!(sh, "git -C {root} {args...}"), what, TIMEOUT).ok()
}

/// The files git tracks below `dir` that match `pathspec` (`.`: all, or one name below
/// `dir`), relative to `dir`; `None` outside a git checkout (or without git).
///
/// One `git ls-files` of the whole checkout per run, shared by every caller (clean, the
/// ownership proofs of `.aws-sam` and of a function dir, copy-backend's proof): a no-op build
/// pays for one git, not one per question. The checkout is the nearest directory above `dir`
/// (resolved) that holds a `.git`, as git finds it; with `GIT_DIR` or `GIT_WORK_TREE` set, git
/// is asked about `dir` itself.
pub fn tracked_below(dir: &Path, pathspec: &str) -> Option<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let Some((top, within)) = checkout_of(dir) else {
        let asked = std::env::var_os("GIT_DIR").is_some() || std::env::var_os("GIT_WORK_TREE").is_some();
        return asked
            .then(|| TrackedListing::asked(dir, pathspec))
            .flatten()
            .map(|l| l.paths.iter().map(PathBuf::from).collect());
    };
    let listing = TrackedListing::of(&top)?;
    let asked = if pathspec == "." { within.clone() } else { within.join(pathspec) };
    let asked = asked.as_os_str().as_bytes();
    // Relative to `dir`: without `within/`.
    let strip = if within.as_os_str().is_empty() { 0 } else { within.as_os_str().len() + 1 };
    let relative = |p: &std::ffi::OsString| PathBuf::from(std::ffi::OsStr::from_bytes(&p.as_bytes()[strip..]));
    if asked.is_empty() {
        return Some(listing.paths.iter().map(relative).collect());
    }
    // Sorted by bytes: the entries below `asked/` are one run of the listing.
    let mut start = asked.to_vec();
    start.push(b'/');
    let from = listing.paths.partition_point(|p| p.as_bytes() < start.as_slice());
    let mut found: Vec<PathBuf> =
        listing.paths[from..].iter().take_while(|p| p.as_bytes().starts_with(&start)).map(relative).collect();
    if pathspec != "." {
        // The pathspec names a tracked file itself.
        if let Ok(at) = listing.paths.binary_search_by(|p| p.as_bytes().cmp(asked)) {
            found.insert(0, relative(&listing.paths[at]));
        }
    }
    Some(found)
}

/// The checkout that holds `dir` and where `dir` is in it, without starting git: the nearest
/// resolved ancestor with a `.git` (a directory, or a file for a worktree or submodule).
/// `None` when git's environment points elsewhere, or no ancestor has one.
fn checkout_of(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    if std::env::var_os("GIT_DIR").is_some() || std::env::var_os("GIT_WORK_TREE").is_some() {
        return None;
    }
    let resolved = std::fs::canonicalize(dir).ok()?;
    let top = resolved.ancestors().find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok())?;
    let within = resolved.strip_prefix(top).ok()?.to_path_buf();
    Some((top.to_path_buf(), within))
}

/// Every path git tracks in one checkout, relative to its top, sorted by bytes.
struct TrackedListing {
    paths: Vec<std::ffi::OsString>,
}

impl TrackedListing {
    /// The listing of the checkout at `top`, asked of git once per run.
    fn of(top: &Path) -> Option<std::sync::Arc<TrackedListing>> {
        type Asked = std::collections::HashMap<PathBuf, Option<std::sync::Arc<TrackedListing>>>;
        static ASKED: std::sync::Mutex<Option<Asked>> = std::sync::Mutex::new(None);
        let mut asked = ASKED.lock().unwrap_or_else(|p| p.into_inner());
        let asked = asked.get_or_insert_with(Asked::new);
        if let Some(known) = asked.get(top) {
            return known.clone();
        }
        let listing = TrackedListing::asked(top, ".");
        asked.insert(top.to_path_buf(), listing.clone());
        listing
    }

    /// `git -C dir ls-files -z -- pathspec`, uncached.
    fn asked(dir: &Path, pathspec: &str) -> Option<std::sync::Arc<TrackedListing>> {
        use std::os::unix::ffi::OsStrExt;
        let mut command = std::process::Command::new("git");
        command.arg("-C").arg(dir).args(["ls-files", "-z", "--", pathspec]);
        let out = process::capture_bytes(command, "git ls-files", Some(Duration::from_secs(60))).ok()?;
        let mut paths: Vec<std::ffi::OsString> = out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| std::ffi::OsStr::from_bytes(p).to_os_string())
            .collect();
        paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        paths.dedup();
        Some(std::sync::Arc::new(TrackedListing { paths }))
    }
}

impl GitState {
    /// HEAD, the tree's changes but those to `outputs` (the xtask's own files), and the remote
    /// branches that hold HEAD.
    pub fn read(sh: &Shell, root: &Path, outputs: &[OwnOutput]) -> GitState {
        let commit = git(sh, root, &["rev-parse", "--verify", "HEAD"], "git rev-parse")
            .map(|out| out.trim().to_string())
            .filter(|c| !c.is_empty());
        let candidates: Vec<(String, &OwnOutput)> =
            outputs.iter().filter_map(|output| Some((relative_text(root, output.path())?, output))).collect();
        if commit.is_none() {
            let all: Vec<String> = candidates.into_iter().map(|(text, _)| text).collect();
            return GitState { excluded: exclude_pathspecs(&all), ..GitState::default() };
        }
        let excluded = exclude_pathspecs(&own_outputs(sh, root, &candidates));
        // Untracked files count: they may be copied into the build (ignored ones do not).
        // Each file, not its directory: a new directory holding only the xtask's outputs is
        // no change. `.` is the project, which may be a subdirectory of the repository.
        let specs = &excluded;
        let listed = process::capture(
            cmd!(sh, "git -C {root} status --porcelain -z --untracked-files=all -- . {specs...}"),
            "git status",
            TIMEOUT,
        )
        .ok();
        let changes = listed.as_deref().map(changed_paths).unwrap_or_default();
        let dirty = listed.map(|_| !changes.is_empty());
        let remote_branches =
            git(sh, root, &["branch", "--remotes", "--contains", "HEAD", "--format=%(refname:short)"], "git branch")
                .map(|out| {
                    out.lines()
                        .map(str::trim)
                        .filter(|b| !b.is_empty() && !b.ends_with("/HEAD") && *b != "HEAD")
                        .map(str::to_string)
                        .collect()
                });
        GitState { commit, dirty, changes, excluded, remote_branches, remote: remote_facts(sh, root) }
    }

    /// `abc1234` or `unknown`, for stack tags.
    pub fn commit_tag(&self) -> String {
        self.commit.clone().unwrap_or_else(|| "unknown".to_string())
    }

    pub fn dirty_tag(&self) -> &'static str {
        match self.dirty {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        }
    }
}

/// Which of the candidate outputs are the xtask's alone (see the module's doc).
fn own_outputs(sh: &Shell, root: &Path, candidates: &[(String, &OwnOutput)]) -> Vec<String> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let literal: Vec<String> = candidates.iter().map(|(text, _)| format!(":(literal){text}")).collect();
    // Unknown (git failed): nothing is excluded, so nothing is hidden.
    let Ok(tracked) = process::capture(cmd!(sh, "git -C {root} ls-files -z -- {literal...}"), "git ls-files", TIMEOUT)
    else {
        return Vec::new();
    };
    let tracked: Vec<&str> = tracked.split('\0').filter(|p| !p.is_empty()).collect();
    let holds_tracked = |text: &str| {
        tracked.iter().any(|t| *t == text || t.strip_prefix(text).is_some_and(|rest| rest.starts_with('/')))
    };
    candidates
        .iter()
        .filter(|(text, output)| {
            let holds_tracked = holds_tracked(text);
            match output {
                _ if !holds_tracked => true,
                OwnOutput::Written(_) => false,
                OwnOutput::Appended(path) => only_appended(sh, root, text, path),
            }
        })
        .map(|(text, _)| text.clone())
        .collect()
}

/// Whether the file at `path` still begins with HEAD's version of it: only appended to.
fn only_appended(sh: &Shell, root: &Path, text: &str, path: &Path) -> bool {
    let spec = format!("HEAD:./{text}");
    let Some(committed) = git(sh, root, &["show", &spec], "git show") else { return false };
    let path = if path.is_absolute() { path.to_path_buf() } else { root.join(path) };
    crate::sys::beneath::read(path).is_ok_and(|now| now.starts_with(committed.as_bytes()))
}

fn remote_facts(sh: &Shell, root: &Path) -> RemoteFacts {
    let remotes = git(sh, root, &["remote"], "git remote")
        .map(|out| out.lines().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let branch = git(sh, root, &["symbolic-ref", "--quiet", "--short", "HEAD"], "git symbolic-ref")
        .map(|out| out.trim().to_string())
        .filter(|b| !b.is_empty());
    let upstream_remote = branch.as_ref().and_then(|b| {
        git(sh, root, &["config", "--get", &format!("branch.{b}.remote")], "git config")
            .map(|out| out.trim().to_string())
            .filter(|r| !r.is_empty() && r != ".")
    });
    let shallow = git(sh, root, &["rev-parse", "--is-shallow-repository"], "git rev-parse")
        .is_some_and(|out| out.trim() == "true");
    RemoteFacts { remotes, branch, upstream_remote, shallow }
}

/// The paths of `git status --porcelain -z`: `XY path`, a rename followed by its source.
fn changed_paths(output: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut entries = output.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (status, path) = entry.split_at(entry.len().min(3));
        paths.push(path.to_string());
        if status.starts_with(['R', 'C']) {
            entries.next();
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn porcelain_paths_are_read_renames_included() {
        let out = " M backend/a.py\0?? notes.txt\0R  new.py\0old.py\0";
        assert_eq!(changed_paths(out), ["backend/a.py", "notes.txt", "new.py"]);
        assert!(changed_paths("").is_empty());
    }

    #[test]
    fn outputs_outside_the_root_are_not_excluded() {
        let root = Path::new("/repo");
        let relative: Vec<String> = [
            PathBuf::from("/repo/infra/lambda/.aws-sam"),
            PathBuf::from("deploy-log.jsonl"),
            PathBuf::from("/home/u/.cache/lambda-xtask"),
        ]
        .iter()
        .filter_map(|p| relative_text(root, p))
        .collect();
        assert_eq!(exclude_pathspecs(&relative), [":(exclude)deploy-log.jsonl", ":(exclude)infra/lambda/.aws-sam"]);
    }

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        std::fs::create_dir_all(dir.path().join("backend/tracked")).unwrap();
        std::fs::write(dir.path().join("backend/tracked/app.py"), "x = 1\n").unwrap();
        std::fs::write(dir.path().join("audit.jsonl"), "{\"n\":1}\n").unwrap();
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "init"]);
        dir
    }

    #[test]
    fn one_listing_answers_each_dir_and_pathspec_as_git_would_below_that_dir() {
        let dir = repo();
        std::fs::create_dir_all(dir.path().join("backend/tracked.d")).unwrap();
        std::fs::write(dir.path().join("backend/tracked.d/untracked.py"), "").unwrap();
        std::fs::write(dir.path().join("backend/tracked!"), "").unwrap();
        let sorted = |mut paths: Vec<PathBuf>| {
            paths.sort();
            paths
        };
        // Each answer is what `git -C DIR ls-files -- PATHSPEC` prints.
        let asked = |at: &str, pathspec: &str| {
            let mut command = Command::new("git");
            command.arg("-C").arg(dir.path().join(at)).args(["ls-files", "-z", "--", pathspec]);
            let out = command.output().unwrap().stdout;
            let listed = String::from_utf8(out).unwrap();
            sorted(listed.split('\0').filter(|p| !p.is_empty()).map(PathBuf::from).collect())
        };
        std::process::Command::new("git").args(["add", "backend/tracked!"]).current_dir(dir.path()).status().unwrap();
        for (at, pathspec) in [
            ("", "."),
            ("backend", "."),
            ("backend", "tracked"),
            ("backend/tracked", "."),
            ("backend", "tracked!"),
            ("backend", "none"),
        ] {
            let ours = sorted(tracked_below(&dir.path().join(at), pathspec).unwrap());
            assert_eq!(ours, asked(at, pathspec), "{at} {pathspec}");
        }
        assert_eq!(tracked_below(&dir.path().join("backend"), "tracked").unwrap(), [PathBuf::from("tracked/app.py")]);
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(tracked_below(outside.path(), "."), None);
    }

    #[test]
    fn an_output_that_holds_a_tracked_file_is_no_output_of_the_xtask() {
        let dir = repo();
        let sh = Shell::new().unwrap();
        std::fs::write(dir.path().join("backend/tracked/app.py"), "x = 2\n").unwrap();
        std::fs::create_dir_all(dir.path().join(".aws-sam")).unwrap();
        std::fs::write(dir.path().join(".aws-sam/built"), "").unwrap();
        let outputs = [OwnOutput::Written(dir.path().join("backend")), OwnOutput::Written(dir.path().join(".aws-sam"))];
        let state = GitState::read(&sh, dir.path(), &outputs);
        assert_eq!(state.dirty, Some(true));
        assert_eq!(state.changes, ["backend/tracked/app.py"]);
        assert_eq!(state.excluded, [":(exclude).aws-sam"]);
    }

    #[test]
    fn a_tracked_audit_log_is_excluded_only_while_it_is_appended_to() {
        let dir = repo();
        let sh = Shell::new().unwrap();
        let log = dir.path().join("audit.jsonl");
        let outputs = [OwnOutput::Appended(log.clone())];
        std::fs::write(&log, "{\"n\":1}\n{\"n\":2}\n").unwrap();
        let appended = GitState::read(&sh, dir.path(), &outputs);
        assert_eq!(appended.dirty, Some(false), "{appended:?}");

        std::fs::write(&log, "{\"n\":0}\n{\"n\":2}\n").unwrap();
        let edited = GitState::read(&sh, dir.path(), &outputs);
        assert_eq!(edited.dirty, Some(true));
        assert_eq!(edited.changes, ["audit.jsonl"]);
    }

    #[test]
    fn remote_branches_holding_head_are_read_from_the_remote_tracking_refs() {
        let dir = repo();
        let sh = Shell::new().unwrap();
        let none = GitState::read(&sh, dir.path(), &[]);
        assert_eq!(none.remote_branches, Some(vec![]));
        assert!(none.remote.remotes.is_empty());
        assert!(none.remote.branch.is_some());

        let remote = tempfile::tempdir().unwrap();
        let run = |cwd: &Path, args: &[&str]| {
            assert!(Command::new("git").args(args).current_dir(cwd).status().unwrap().success())
        };
        run(remote.path(), &["init", "-q", "--bare"]);
        run(dir.path(), &["remote", "add", "team", remote.path().to_str().unwrap()]);
        let branch = none.remote.branch.clone().unwrap();
        run(dir.path(), &["push", "-q", "-u", "team", &branch]);
        let pushed = GitState::read(&sh, dir.path(), &[]);
        assert_eq!(pushed.remote_branches, Some(vec![format!("team/{branch}")]));
        assert_eq!(pushed.remote.remotes, ["team"]);
        assert_eq!(pushed.remote.upstream_remote.as_deref(), Some("team"));
        assert!(!pushed.remote.shallow);
    }
}
