//! `lambda-init`: adopts the tool in a SAM repository, before or after it has an xtask. It finds
//! the template and writes what an adopted repository holds of its own: the root Cargo.toml
//! (a workspace with the xtask as member, the one-line `[workspace.metadata.lambda]` table and the
//! build profile we recommend), the thin `xtask/` (a Cargo.toml that depends on this library and
//! a main.rs of three lines), the `cargo xtask` alias in `.cargo/config.toml`, and the
//! `.gitignore` lines for the tool's outputs. It checks that git would not ignore what it wrote,
//! and prints what it discovered: each function with its runtime, architecture, CodeUri, layers,
//! event sources, and which guards and smoke test apply. Everything is checked before the first
//! write; it changes nothing else, and refuses (exit 2) where a configuration already exists.
//!
//! Before a repository has an xtask it runs as the library's own binary:
//! `cargo install --git URL --tag TAG lambda-xtask && lambda-xtask lambda-init`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bad_input;
use crate::cli::InitArgs;
use crate::guards::allow::ALL_GUARDS;
use crate::project::config::{Project, SmokeTestMode};
use crate::project::target::{self as discovery, BuildTarget};
use crate::project::template::Template;

pub mod scaffold;

use scaffold::{LibrarySource, Scaffold};

/// What `.gitignore` gains: sam's build output, cargo's, and the default audit log (kept as a CI
/// artifact and in `audit_bucket`, not in git history).
const IGNORED: [&str; 3] = [".aws-sam/", "/target/", "/deploy-log.jsonl"];

pub fn run(args: &InitArgs) -> Result<()> {
    let root = std::env::current_dir().context("reading the current directory")?;
    let manifest_path = root.join("Cargo.toml");
    let existing = read_optional(&manifest_path)?;
    if existing.as_deref().is_some_and(|t| t.contains("metadata.lambda")) {
        bad_input!(
            "Cargo.toml already has a [workspace.metadata.lambda] table: lambda-init changes nothing; edit it by hand (see lambda-xtask's docs/configuration.md)"
        )
    }
    let template = match &args.template {
        Some(path) => {
            if !root.join(path).is_file() {
                bad_input!("--template {}: no such file", path.display())
            }
            path.clone()
        }
        None => find_template(&root)?,
    };
    let template_text = template.to_string_lossy().replace('\\', "/");
    let table = format!("[workspace.metadata.lambda]\ntemplate = \"{template_text}\"\n");
    let manifest = match &existing {
        Some(text) if text.contains("[workspace]") => {
            if !scaffold::names_member(text, "xtask") {
                bad_input!(
                    "Cargo.toml is a workspace whose members do not include \"xtask\": add it to [workspace] members, then run lambda-init again"
                )
            }
            format!("{}\n\n{table}", text.trim_end())
        }
        Some(_) => bad_input!(
            "Cargo.toml is a package manifest, not a workspace: move the package into a directory of its own, or add [workspace] with members = [\".\", \"xtask\"], then run lambda-init again"
        ),
        None => format!("[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n\n{table}\n{}", scaffold::PROFILE),
    };
    // Everything is checked before anything is written: the table must parse, the template
    // must yield its targets, the xtask and the alias must be writable as planned.
    let project = Project::load(&root, &manifest)?;
    crate::project::samconfig::check_for_sam_build(&project)?;
    let overrides = crate::project::samconfig::build_overrides(&project)?;
    let parsed = Template::load_with(&project.template_path(), &template_text, &overrides)?;
    let found = discovery::discover(&project, &parsed)?;
    let library = match root.join("xtask").exists() {
        true => None,
        false => Some(LibrarySource::choose(args)?),
    };
    let scaffold = Scaffold::plan(&root, library.as_ref())?;

    crate::sys::atomic::write_atomically(&manifest_path, &manifest)?;
    let mut written = vec![PathBuf::from("Cargo.toml")];
    written.extend(scaffold.write(&root)?);
    let missing_ignores = add_ignores(&root)?;
    if !missing_ignores.is_empty() {
        written.push(PathBuf::from(".gitignore"));
    }

    let verb = if existing.is_some() { "added to" } else { "wrote" };
    say!("{verb} Cargo.toml: [workspace.metadata.lambda] template = \"{template_text}\"");
    for line in scaffold.describe(library.as_ref()) {
        say!("{line}");
    }
    if !missing_ignores.is_empty() {
        say!("added to .gitignore: {}", missing_ignores.join(" "));
    }
    for line in report(&project, &found) {
        say!("{line}");
    }
    let hidden = scaffold::ignored_by_git(&root, &needed_in_every_clone(&root, &template, &written));
    if !hidden.is_empty() {
        let shown: Vec<String> = hidden.iter().map(|h| h.to_string()).collect();
        say!(
            "warning: git ignores {}, so a commit would leave it out and a fresh clone could not build the xtask; fix: git add -f {}",
            shown.join("; "),
            hidden.iter().map(|h| h.path.as_str()).collect::<Vec<_>>().join(" ")
        );
    }
    say!("next: cargo xtask lambda-build");
    Ok(())
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match crate::sys::beneath::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Adds the tool's outputs to `.gitignore`; returns the lines it added.
fn add_ignores(root: &Path) -> Result<Vec<&'static str>> {
    let gitignore = root.join(".gitignore");
    let current = crate::sys::beneath::read_to_string(&gitignore).unwrap_or_default();
    let missing: Vec<&str> =
        IGNORED.iter().copied().filter(|line| !current.lines().any(|l| l.trim() == *line)).collect();
    if !missing.is_empty() {
        let mut text = current.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# lambda-xtask: sam's build output and the xtask's own build\n");
        for line in &missing {
            text.push_str(line);
            text.push('\n');
        }
        crate::sys::atomic::write_atomically(&gitignore, &text)?;
    }
    Ok(missing)
}

/// What every clone needs for `cargo xtask`, whether lambda-init wrote it now or the adopter
/// did before: what it wrote, the workspace lock, the xtask crate and cargo's configuration
/// as they are on disk (a `src/` or `build/` rule hides them as well when lambda-init did not
/// write them), and the template.
fn needed_in_every_clone(root: &Path, template: &Path, written: &[PathBuf]) -> Vec<PathBuf> {
    let mut needed = written.to_vec();
    needed.extend(["Cargo.lock", "xtask/Cargo.toml", "xtask/src/main.rs"].iter().map(PathBuf::from));
    needed.push(template.to_path_buf());
    for dir in ["xtask", ".cargo"] {
        let walker = ignore::WalkBuilder::new(root.join(dir)).standard_filters(false).follow_links(false).build();
        for entry in walker.flatten() {
            let Ok(relative) = entry.path().strip_prefix(root) else { continue };
            if entry.file_type().is_some_and(|t| t.is_file()) && !relative.starts_with("xtask/target") {
                needed.push(relative.to_path_buf());
            }
        }
    }
    needed.sort();
    needed.dedup();
    needed
}

/// The one template.yaml/template.yml here or up to three levels below (not in .aws-sam,
/// target, node_modules or a hidden dir).
fn find_template(root: &Path) -> Result<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(PathBuf::new(), 0)];
    while let Some((relative, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(root.join(&relative)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if depth < 3 && !name.starts_with('.') && !matches!(name.as_str(), "target" | "node_modules") {
                    stack.push((relative.join(&name), depth + 1));
                }
            } else if kind.is_file() && (name == "template.yaml" || name == "template.yml") {
                found.push(relative.join(&name));
            }
        }
    }
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bad_input!("no template.yaml or template.yml here or below: run lambda-init where the SAM template is, or pass --template FILE"),
        many => bad_input!(
            "several SAM templates here: {}; pass the one to build with --template FILE",
            many.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// What lambda-build will do with each function, for the person adopting it.
fn report(project: &Project, found: &discovery::Discovery) -> Vec<String> {
    let mut lines = Vec::new();
    let guards: Vec<&str> = ALL_GUARDS.to_vec();
    for target in &found.targets {
        let t = &target.template;
        lines.push(format!(
            "function {}: {} {}, CodeUri {}, Handler {}",
            target.logical_id(),
            target.runtime.name,
            t.architecture,
            target.dir_shown(),
            t.handler.as_deref().unwrap_or_default()
        ));
        if matches!(target.function_dir, discovery::CodeDir::Staged(_)) {
            lines.push(format!(
                "    {} also holds the xtask's own files: sam builds a copy of what git shows of it, less those (xtask/, target/, Cargo.*, .aws-sam/)",
                target.dir_shown()
            ));
        }
        let events: Vec<String> = t.events.iter().map(|e| format!("{} ({})", e.name, e.kind)).collect();
        lines.push(format!("    events: {}", if events.is_empty() { "none".to_string() } else { events.join(", ") }));
        let mut layers = target.layers.clone();
        layers.extend(target.external_layers.iter().map(|l| format!("{l} (outside the template: not checked)")));
        if !layers.is_empty() {
            lines.push(format!("    layers: {}", layers.join(", ")));
        }
        lines.push(format!("    guards: {}", guards.join(", ")));
        lines.push(format!("    smoke test: {}", smoke_plan(project, target)));
    }
    for layer in &found.layers {
        lines.push(format!(
            "layer {}: {}, ContentUri {}; guards: platform-binary, python-abi",
            layer.logical_id(),
            layer.runtime,
            crate::project::tool_files::shown(&layer.dir)
        ));
    }
    for zip in &found.zips {
        lines.push(format!(
            "{} ({} {}): {} is uploaded as it is (sam builds no zip); guards on its entries: the handler module, zip-package, platform-binary, python-abi, secret-file; smoke test: none (nothing is built)",
            zip.describe(),
            zip.runtime.name,
            zip.runtime.arch.template_name(),
            zip.path.display()
        ));
    }
    if found.targets.is_empty() && found.zips.is_empty() {
        lines.push(
            "notice: no Python function here has code on disk to build or guard: lambda-build and lambda-deploy run sam as it is, and nothing is guarded".to_string(),
        );
    }
    lines.extend(found.notices.iter().cloned());
    lines
}

fn smoke_plan(project: &Project, target: &BuildTarget) -> String {
    if target.config.smoke_test == SmokeTestMode::Off {
        return "off".to_string();
    }
    if let Some(script) = &target.script {
        return format!(
            "none: Handler {} is a script AWS_LAMBDA_EXEC_WRAPPER {} runs, not a Python import (checked: an executable file of the build output)",
            script.path, script.wrapper
        );
    }
    let runtime = target.runtime.name.as_str();
    let arch_runs_here = target.runtime.arch.machine() == std::env::consts::ARCH;
    let what = match crate::guards::suite::smoke_event(project, target, None) {
        Ok(Some(event)) => format!("import, then invoke with {}", event.description),
        Ok(None) => "import only (no event source; set smoke_test_event to invoke it)".to_string(),
        Err(_) => "invoke with its smoke_test_event (unreadable now)".to_string(),
    };
    if !arch_runs_here {
        return format!(
            "static import check ({} cannot run on this {} machine without Docker)",
            target.template.architecture,
            std::env::consts::ARCH
        );
    }
    match crate::sys::interpreters::find(runtime) {
        Some(python) => format!("{what}, in {}", python.display()),
        None => format!("static import check (no {runtime} here without Docker)"),
    }
}
