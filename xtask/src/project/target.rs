//! The functions to build: each configured function checked against the template and the
//! disk, resolved to absolute paths.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::bad_input;
use crate::guards::source::FunctionSource;
use crate::project::config::{FunctionConfig, Project};
use crate::project::template::{Template, TemplateFunction};
use crate::python::requirements_txt;
use crate::sys::owned_dir::OwnedDir;

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
        check_requirements_txt(&function_dir, config)?;
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

/// The function's requirements.txt, as pip will read it in sam build: a line pip would refuse
/// is bad input now rather than a pip failure a minute into the build. No file is fine (sam
/// then installs nothing).
fn check_requirements_txt(function_dir: &OwnedDir, config: &FunctionConfig) -> Result<()> {
    let path = function_dir.path().join("requirements.txt");
    let shown = config.function_dir.join("requirements.txt");
    let shown = shown.display();
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("reading {shown}")),
    };
    // Lossy: pip decodes with the locale when the file is not UTF-8, so a stray byte in a
    // comment must not be refused; in a requirement it fails the check below anyway.
    if let Err(bad) = requirements_txt::check(&String::from_utf8_lossy(&bytes)) {
        bad_input!(
            "{shown}:{}: {}; pip would refuse it when sam build installs the dependencies: fix or remove the line",
            bad.line,
            bad.problem
        )
    }
    Ok(())
}
