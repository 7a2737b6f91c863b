//! `cargo xtask lambda-build`: copy-backend, clean, pre-build guards and sam build, in order.
//!
//! Everything that can be wrong with the configuration or the machine is checked before the
//! first step, so bad input exits 2 with nothing changed on disk.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use xshell::Shell;

use crate::bad_input;
use crate::config::{FunctionConfig, Project};
use crate::guards::{self, source::FunctionSource};
use crate::lock::RepoLock;
use crate::pipeline::Pipeline;
use crate::steps::clean;
use crate::steps::copy_backend::copy_backend;
use crate::steps::owned_dir::OwnedDir;
use crate::steps::sam_build::{self, ContainerMode};
use crate::template::{Template, TemplateFunction};
use crate::tools::{self, Provenance, PythonTool};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Where sam build runs: in a Docker container, natively, or container when Docker answers.
    #[arg(long, value_enum, default_value_t = ContainerMode::Auto)]
    pub container: ContainerMode,
    /// List what clean would remove and what copy-backend would replace; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One function, checked against the template and resolved to absolute paths.
pub struct BuildTarget<'a> {
    pub config: &'a FunctionConfig,
    pub template: TemplateFunction,
    pub function_dir: OwnedDir,
    pub backend_src: Option<PathBuf>,
}

impl BuildTarget<'_> {
    pub fn source(&self, project: &Project) -> FunctionSource {
        let (handler_file, handler_attribute) = self.template.handler_parts().expect("checked in resolve_targets");
        FunctionSource {
            repo_root: project.root.clone(),
            function_dir: self.function_dir.path().to_path_buf(),
            copied_backend: self.config.backend_src.as_ref().map(|src| (self.config.copy_to.clone(), src.clone())),
            handler_file,
            handler_attribute,
        }
    }
}

/// Checks each configured function against the template and the disk. Bad input, never a
/// change on disk.
pub fn resolve_targets<'a>(project: &'a Project, template: &Template) -> Result<Vec<BuildTarget<'a>>> {
    let template_shown = project.config.template.display();
    let mut targets = Vec::new();
    for config in &project.config.functions {
        let id = &config.logical_id;
        let Some(function) = template.function(id) else {
            let known: Vec<&str> = template.functions.iter().map(|f| f.logical_id.as_str()).collect();
            bad_input!(
                "template {template_shown} has no AWS::Serverless::Function {id} (it has: {}): fix logical_id in [workspace.metadata.lambda]",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        };
        if function.handler_parts().is_none() {
            bad_input!(
                "function {id}: Handler {:?} in {template_shown} is not of the form module.function (e.g. handler.handler)",
                function.handler.as_deref().unwrap_or("(missing)")
            )
        }
        match function.runtime.as_deref() {
            Some(runtime) if runtime.starts_with("python3.") => {}
            other => bad_input!(
                "function {id}: Runtime {:?} in {template_shown} is not a Python runtime (python3.X); this tool builds Python functions",
                other.unwrap_or("(missing)")
            ),
        }
        let function_dir = OwnedDir::new(&project.root, &project.path(&config.function_dir))?;
        let backend_src = match &config.backend_src {
            Some(src) => {
                let path = project.path(src);
                if !path.is_dir() {
                    bad_input!("function {id}: backend_src {} is not a directory: create it or fix backend_src in [workspace.metadata.lambda]", src.display())
                }
                Some(path)
            }
            None => None,
        };
        targets.push(BuildTarget { config, template: function.clone(), function_dir, backend_src });
    }
    Ok(targets)
}

pub fn run(args: &BuildArgs) -> Result<()> {
    let project = Project::discover()?;
    let template = Template::load(&project.template_path(), &project.config.template.display().to_string())?;
    let targets = resolve_targets(&project, &template)?;

    if args.dry_run {
        return dry_run(&project, &targets);
    }

    let in_container = build_prerequisites(args.container, &targets)?;

    let _lock = RepoLock::acquire(&project.sam_dir())?;
    let sh = Shell::new()?;
    let mut pipeline = Pipeline::new("lambda-build");
    let result = build(&mut pipeline, &sh, &project, &targets, in_container, args.container).map(|_sam| ());
    pipeline.finish(result)
}

/// Whether sam builds in a container, after checking that what the build needs is there
/// (bad input otherwise, before anything changes).
pub fn build_prerequisites(mode: ContainerMode, targets: &[BuildTarget]) -> Result<bool> {
    let in_container = sam_build::use_container(mode, sam_build::docker_answers)?;
    if !in_container {
        for target in targets {
            tools::runtime_python(target.template.runtime.as_deref().unwrap_or_default())?;
        }
    }
    Ok(in_container)
}

/// The sam-cli step: finds or installs sam.
pub fn locate_sam_step(pipeline: &mut Pipeline, sh: &Shell, project: &Project) -> Result<PathBuf> {
    pipeline.step("sam-cli", || {
        let (sam, provenance) = tools::locate(sh, &PythonTool::sam_cli(&project.config.sam_cli_version))?;
        let origin = match provenance {
            Provenance::OnPath => "on PATH",
            Provenance::Cached => "from the tool cache",
            Provenance::Installed => "installed into the tool cache",
        };
        eprintln!("    sam: {} ({origin})", sam.display());
        Ok(sam)
    })
}

/// The build's steps on `pipeline` (lambda-deploy runs them on its own); returns sam's path.
pub fn build(
    pipeline: &mut Pipeline,
    sh: &Shell,
    project: &Project,
    targets: &[BuildTarget],
    in_container: bool,
    mode: ContainerMode,
) -> Result<PathBuf> {
    let sam = locate_sam_step(pipeline, sh, project)?;
    for target in targets {
        if let (Some(source), Some(shown)) = (&target.backend_src, &target.config.backend_src) {
            pipeline.step("copy-backend", || {
                let report = copy_backend(source, &target.function_dir, &target.config.copy_to)?;
                eprintln!(
                    "    {} -> {}/{}: {} files, {} dirs, {} symlinks",
                    shown.display(),
                    target.config.function_dir.display(),
                    target.config.copy_to,
                    report.files,
                    report.dirs,
                    report.symlinks
                );
                Ok(())
            })?;
        }
    }
    pipeline.step("clean", || {
        for target in targets {
            let doomed = clean::plan(&target.function_dir, &target.config.allowlist)?;
            for entry in &doomed {
                eprintln!(
                    "    removing {} {}",
                    entry.kind.label(),
                    target.config.function_dir.join(&entry.name).display()
                );
            }
            clean::remove(&target.function_dir, &doomed)?;
        }
        Ok(())
    })?;
    pipeline.guard_step("pre-build-guards", || {
        Ok(targets.iter().flat_map(|target| guards::source::check(&target.source(project))).collect())
    })?;
    if !in_container {
        match mode {
            ContainerMode::Auto => eprintln!(
                "notice: no Docker daemon answers, so sam builds natively with the local Python; binary wheels are still fetched for manylinux"
            ),
            _ => eprintln!("notice: building natively with the local Python (--container never)"),
        }
    }
    pipeline.step("sam-build", || {
        sam_build::sam_build(
            sh,
            &sam,
            &project.sam_dir(),
            &project.template_path(),
            in_container,
            project.sam_timeout(),
        )
    })?;
    Ok(sam)
}

fn dry_run(project: &Project, targets: &[BuildTarget]) -> Result<()> {
    for target in targets {
        let dir = target.config.function_dir.display();
        if let Some(src) = &target.config.backend_src {
            eprintln!(
                "would copy {} to {dir}/{} (replacing it once the copy is complete)",
                src.display(),
                target.config.copy_to
            );
        }
        let doomed = clean::plan(&target.function_dir, &target.config.allowlist)?;
        if doomed.is_empty() {
            eprintln!("clean would remove nothing from {dir}");
        }
        for entry in &doomed {
            eprintln!("would remove {} {}", entry.kind.label(), target.config.function_dir.join(&entry.name).display());
        }
    }
    let _ = project;
    eprintln!("dry run: nothing was changed");
    Ok(())
}
