//! What a build works on, found in the template: every `AWS::Serverless::Function` with a
//! `python3.X` runtime and a zip package is a target, its function dir its CodeUri; every
//! `AWS::Serverless::LayerVersion` with a local ContentUri for Python is guarded with it. A
//! `[[functions]]` entry only overrides the settings of the function it names. Everything
//! else in the template that runs code is named in a notice saying why it is not guarded, so
//! nothing goes unmentioned.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::bad_input;
use crate::project::config::{FunctionConfig, Project};
use crate::project::runtime::LambdaRuntime;
use crate::project::source::FunctionSource;
use crate::project::template::{EnvValue, LayerRef, Template, TemplateFunction, TemplateLayer};
use crate::python::requirements_txt;
use crate::sys::owned_dir::OwnedDir;

/// One function, checked against the template and resolved to absolute paths.
#[derive(Debug, Clone)]
pub struct BuildTarget {
    /// Its `[[functions]]` entry, or every default when it has none.
    pub config: FunctionConfig,
    pub template: TemplateFunction,
    /// The template's Handler, parsed; for a script handler (see `script`), the script's path
    /// as `file` and no attribute.
    pub handler: Handler,
    /// The Handler is an executable an exec wrapper runs, not a Python import.
    pub script: Option<Script>,
    /// The template's Runtime and Architectures, as a Lambda runtime this tool builds for.
    pub runtime: LambdaRuntime,
    /// The function dir (its CodeUri) relative to the repository root, as output shows it;
    /// empty for the root itself.
    pub dir: PathBuf,
    pub function_dir: CodeDir,
    pub backend_src: Option<PathBuf>,
    /// The template's layers it names that are guarded here (logical ids).
    pub layers: Vec<String>,
    /// Layers it names that are not in this template (ARNs): their content is unknown here.
    pub external_layers: Vec<String>,
}

/// A Handler of the form `module.attribute`, checked: `app.main.handler` is the attribute
/// `handler` of the module file `app/main.py`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// Relative to the function dir, e.g. `app/main.py`.
    pub file: String,
    pub attribute: String,
}

impl Handler {
    /// A Handler as Lambda's Python runtime client reads it: the attribute after the last
    /// `.`, the module before it with each `/` read as a `.` (`agent/handler.lambda_handler`
    /// imports `agent.handler`). The client imports it with `importlib.import_module`, which
    /// finds a module by its file name, not by Python's identifier rules: `my-fn.handler`
    /// imports `my-fn.py`. So a part of the module may hold any character a file name may,
    /// but it may not be empty (`a..b`, `./app`, `/abs/app` and `../up` do not import) nor hold
    /// whitespace (Lambda's API refuses a Handler with any) or a control character. The
    /// attribute is read with `getattr`, an identifier in any real module. `None` for anything
    /// the runtime could not import.
    pub fn parse(handler: &str) -> Option<Handler> {
        let (module, attribute) = handler.rsplit_once('.')?;
        let parts: Vec<&str> = module.split(['.', '/']).collect();
        if !parts.iter().all(|p| is_module_file_stem(p)) || !is_python_identifier(attribute) {
            return None;
        }
        Some(Handler { file: parts.join("/") + ".py", attribute: attribute.to_string() })
    }

    /// The module as Python imports it, e.g. `app.main`.
    pub fn module(&self) -> String {
        self.file.trim_end_matches(".py").replace('/', ".")
    }
}

/// A Handler that is no Python import: with `AWS_LAMBDA_EXEC_WRAPPER` set (Lambda Web
/// Adapter's `/opt/bootstrap`, for one), the wrapper runs the Handler as an executable of the
/// package (`run.sh`) instead of letting the runtime import it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Relative to the function's code, e.g. `run.sh`.
    pub path: String,
    /// `AWS_LAMBDA_EXEC_WRAPPER` as the template gives it.
    pub wrapper: String,
}

/// The exec wrapper a function sets (`AWS_LAMBDA_EXEC_WRAPPER`), as written.
fn exec_wrapper(function: &TemplateFunction) -> Option<String> {
    function.environment.iter().find(|(name, _)| name == "AWS_LAMBDA_EXEC_WRAPPER").map(|(_, value)| match value {
        EnvValue::Plain(text) | EnvValue::Intrinsic(text) => text.clone(),
    })
}

/// A relative path that stays inside the package: no `..`, not absolute, not empty.
fn inside_package(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && Path::new(path).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// A part of a dotted module name that `importlib.import_module` can find as a file or
/// directory of that name: not empty, no whitespace or control character (`.` and `/` are the
/// separators it was split on).
fn is_module_file_stem(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub fn is_python_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Where a function's code is, and how sam gets it.
#[derive(Debug, Clone)]
pub enum CodeDir {
    /// A dir of its own, strictly inside the repository: cleaned, and built by sam in place.
    Own(OwnedDir),
    /// A dir that also holds the xtask's own files (the repository root, or the template's dir
    /// with sam's `.aws-sam`), absolute: never cleaned; sam builds a staged copy of what git
    /// shows of it, less those files (see [`crate::project::tool_files`]).
    Staged(PathBuf),
}

impl CodeDir {
    /// The function dir in the repository.
    pub fn path(&self) -> &Path {
        match self {
            CodeDir::Own(dir) => dir.path(),
            CodeDir::Staged(dir) => dir,
        }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The dir clean and copy-backend may change, when it is the function's own.
    pub fn owned(&self) -> Option<&OwnedDir> {
        match self {
            CodeDir::Own(dir) => Some(dir),
            CodeDir::Staged(_) => None,
        }
    }
}

impl BuildTarget {
    pub fn logical_id(&self) -> &str {
        &self.config.logical_id
    }

    /// The function dir as output shows it: `.` for the repository root.
    pub fn dir_shown(&self) -> String {
        crate::project::tool_files::shown(&self.dir)
    }

    /// The function's code as the pre-build guards read it: the function dir, or for a staged
    /// one its copy in the stage `stage_root` (a mirror of the repository, so that paths read
    /// as the repository's).
    pub fn scanned_source(&self, project: &Project, stage_root: Option<&Path>) -> FunctionSource {
        match (&self.function_dir, stage_root) {
            (CodeDir::Staged(_), Some(stage)) => FunctionSource {
                repo_root: stage.to_path_buf(),
                function_dir: stage.join(&self.dir),
                ..self.source(project)
            },
            _ => self.source(project),
        }
    }

    pub fn source(&self, project: &Project) -> FunctionSource {
        FunctionSource {
            repo_root: project.root.clone(),
            function_dir: self.function_dir.path().to_path_buf(),
            copied_backend: self.config.backend_src.as_ref().map(|src| (self.config.copy_to.clone(), src.clone())),
            handler_file: self.handler.file.clone(),
            handler_attribute: self.handler.attribute.clone(),
            script: self.script.is_some(),
        }
    }
}

/// An `AWS::Serverless::LayerVersion` whose content is on disk.
#[derive(Debug, Clone)]
pub struct LayerTarget {
    pub layer: TemplateLayer,
    /// ContentUri relative to the repository root.
    pub dir: PathBuf,
    /// The Python runtime it is built for: its BuildMethod, else the first python3.X of its
    /// CompatibleRuntimes, else the runtime of the first function that uses it.
    pub runtime: String,
}

impl LayerTarget {
    pub fn logical_id(&self) -> &str {
        &self.layer.logical_id
    }

    /// No BuildMethod: sam ships ContentUri as it is, with no build output of its own.
    pub fn as_is(&self) -> bool {
        self.layer.build_method.is_none()
    }

    /// `makefile` as BuildMethod: what ships is only what its Makefile's `build-<LogicalId>`
    /// target writes to `$ARTIFACTS_DIR`, never its ContentUri as such.
    pub fn makefile(&self) -> bool {
        self.layer.build_method.as_deref() == Some("makefile")
    }

    /// `python3.X` as BuildMethod: built like a function, with pip (or uv, see the build).
    pub fn python_build(&self) -> bool {
        self.layer.build_method.as_deref().is_some_and(|m| m.starts_with("python3."))
    }

    /// Its first CompatibleArchitectures, else SAM's default x86_64.
    pub fn architecture(&self) -> &str {
        self.layer.architectures.first().map(String::as_str).unwrap_or("x86_64")
    }
}

/// The template's targets and what it holds that is not one.
#[derive(Debug)]
pub struct Discovery {
    pub targets: Vec<BuildTarget>,
    pub layers: Vec<LayerTarget>,
    /// One line per function or layer that is not guarded, saying why.
    pub notices: Vec<String>,
    /// Functions with `PackageType: Image`: sam build needs Docker for them.
    pub images: Vec<String>,
    /// Functions and layers whose code is a `.zip`: sam builds none of them and uploads each
    /// as it is; their entries are guarded (see `guards::zip_package`).
    pub zips: Vec<ZipPackage>,
    /// Parameter overrides that change what sam builds (see `Template::build_overrides`):
    /// sam build is given them, so that it builds what the guards judge.
    pub build_overrides: Vec<(String, String)>,
}

/// A function or layer whose CodeUri or ContentUri is a `.zip` file.
#[derive(Debug, Clone)]
pub struct ZipPackage {
    pub logical_id: String,
    /// The zip, relative to the repository root.
    pub path: PathBuf,
    pub runtime: LambdaRuntime,
    /// A function's entry point (`None` for a layer): its Handler, and its script when an exec
    /// wrapper runs one.
    pub entry: Option<(Handler, Option<Script>)>,
}

impl ZipPackage {
    /// `function Fn` or `layer Deps`, for messages.
    pub fn describe(&self) -> String {
        let kind = if self.entry.is_some() { "function" } else { "layer" };
        format!("{kind} {}", self.logical_id)
    }
}

impl Discovery {
    /// Each distinct function dir once, with the targets built from it (several functions
    /// may share one CodeUri: sam builds it for each, clean runs on it once).
    pub fn function_dirs(&self) -> Vec<(&BuildTarget, Vec<&str>)> {
        let mut dirs: Vec<(&BuildTarget, Vec<&str>)> = Vec::new();
        for target in &self.targets {
            match dirs.iter_mut().find(|(first, _)| first.function_dir.path() == target.function_dir.path()) {
                Some((_, ids)) => ids.push(target.logical_id()),
                None => dirs.push((target, vec![target.logical_id()])),
            }
        }
        dirs
    }

    pub fn layer(&self, logical_id: &str) -> Option<&LayerTarget> {
        self.layers.iter().find(|l| l.logical_id() == logical_id)
    }
}

/// The targets of the template, with the configuration's overrides. Bad input, never a change
/// on disk: an override naming no function, a Python function whose Handler or CodeUri cannot
/// be built, a function dir outside the repository.
pub fn discover(project: &Project, template: &Template) -> Result<Discovery> {
    check_logical_ids(project, template)?;
    check_overrides(project, template)?;
    let template_dir = project.config.template.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut discovery = Discovery {
        targets: Vec::new(),
        layers: Vec::new(),
        notices: Vec::new(),
        images: Vec::new(),
        zips: Vec::new(),
        build_overrides: template.build_overrides.clone(),
    };
    for layer in &template.layers {
        discover_layer(project, template, layer, &template_dir, &mut discovery)?;
    }
    for function in &template.functions {
        let entry = project.config.functions.iter().find(|f| f.logical_id == function.logical_id);
        if let Some(zip) = zip_function(project, function, &template_dir)? {
            discovery.zips.push(zip);
            continue;
        }
        match not_guarded(project, function, entry.is_some())? {
            Some(NotGuarded { why, image }) => {
                if image {
                    discovery.images.push(function.logical_id.clone());
                }
                discovery.notices.push(format!("notice: function {} is not guarded: {why}", function.logical_id));
            }
            None => {
                let target = function_target(project, template, function, entry, &template_dir, &discovery)?;
                discovery.targets.push(target);
            }
        }
    }
    Ok(discovery)
}

/// Every logical id alphanumeric, as CloudFormation requires, before any path is built from one
/// (`.aws-sam/build/<LogicalId>`): `../../tmp/x/Fn` would lead the guards and the smoke test
/// out of the build output.
fn check_logical_ids(project: &Project, template: &Template) -> Result<()> {
    let ids = template.resources.iter().map(|(id, _)| id.as_str());
    let ids = ids.chain(template.functions.iter().map(|f| f.logical_id.as_str()));
    for id in ids.chain(template.layers.iter().map(|l| l.logical_id.as_str())) {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            bad_input!(
                "template {}: logical id {:?} is not alphanumeric (A-Z, a-z, 0-9), as CloudFormation requires: rename the resource",
                project.config.template.display(),
                crate::sys::quote::cut(id)
            )
        }
    }
    Ok(())
}

/// Every `[[functions]]` entry names a function of the template.
fn check_overrides(project: &Project, template: &Template) -> Result<()> {
    let template_shown = project.config.template.display();
    for entry in &project.config.functions {
        let id = &entry.logical_id;
        if template.function(id).is_none() {
            let known: Vec<&str> = template.functions.iter().map(|f| f.logical_id.as_str()).collect();
            bad_input!(
                "template {template_shown} has no AWS::Serverless::Function {id} (it has: {}): fix logical_id in [workspace.metadata.lambda]",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        }
    }
    Ok(())
}

/// A layer built for Python from a local directory is guarded; any other gets a notice.
fn discover_layer(
    project: &Project,
    template: &Template,
    layer: &TemplateLayer,
    template_dir: &Path,
    discovery: &mut Discovery,
) -> Result<()> {
    let template_shown = project.config.template.display();
    let id = &layer.logical_id;
    // A layer with no BuildMethod, or a makefile, is Python when the functions that use it are.
    let users = template.functions.iter().filter(|f| f.layers.contains(&LayerRef::Resource(id.clone())));
    let inferred = matches!(layer.build_method.as_deref(), None | Some("makefile"));
    let user_runtimes = users.filter_map(|f| f.runtime.as_ref()).filter(|_| inferred);
    let runtime = layer
        .build_method
        .iter()
        .chain(&layer.compatible_runtimes)
        .chain(user_runtimes)
        .find(|r| r.starts_with("python3."))
        .cloned();
    let (Some(runtime), Some(uri)) = (runtime, layer.content_uri.as_deref()) else {
        let why = if layer.content_uri.is_none() {
            "its ContentUri is not a local directory"
        } else {
            "it is not built for a python3.X runtime (no such BuildMethod or CompatibleRuntimes, nor a Python function using it)"
        };
        discovery.notices.push(format!("notice: layer {id} is not guarded: {why}"));
        return Ok(());
    };
    let dir = code_dir(template_dir, uri, &format!("layer {id}: ContentUri {uri:?}"))?;
    if is_zip(uri) {
        let runtime = LambdaRuntime::new(&runtime, layer.architectures.first().map(String::as_str).unwrap_or("x86_64"))
            .with_context(|| format!("layer {id}"))?;
        check_zip_file(project, &dir, &format!("layer {id}: ContentUri {uri}"))?;
        discovery.zips.push(ZipPackage { logical_id: id.clone(), path: dir, runtime, entry: None });
        return Ok(());
    }
    let holds_tool_files = crate::project::tool_files::ToolFiles::of(project).inside(&dir);
    if holds_tool_files && layer.build_method.as_deref() == Some("makefile") {
        // aws-lambda-builders' CustomMakeWorkflow copies ContentUri (less .aws-sam and .git) to
        // a scratch dir and runs make there: the layer is what make writes to $ARTIFACTS_DIR,
        // never the dir itself, and that output is guarded after the build.
        discovery.notices.push(format!(
            "notice: layer {id}: ContentUri {uri} is {}, which also holds the xtask's own files (target/, Cargo.toml, .aws-sam/...): its BuildMethod makefile ships only what the Makefile writes to $ARTIFACTS_DIR, which is guarded after the build; sam copies the directory (less .aws-sam and .git) to a scratch dir to run make, so a large target/ makes that copy slow",
            crate::project::tool_files::shown(&dir)
        ));
    } else if holds_tool_files {
        bad_input!(
            "layer {id}: ContentUri {uri} in {template_shown} is {}, which also holds the xtask's own files (target/, Cargo.toml, .aws-sam/...) that sam would put in the layer: give the layer its own directory",
            crate::project::tool_files::shown(&dir)
        )
    }
    crate::sys::owned_dir::check_readable_dir(&project.root, &dir).map_err(|problem| {
        crate::sys::exit::BadInput::new(format!(
            "layer {id}: ContentUri {uri} in {template_shown} {problem}: sam copies the layer as it is, links followed; make it a real directory inside the repository or fix ContentUri"
        ))
    })?;
    discovery.layers.push(LayerTarget { layer: layer.clone(), dir, runtime });
    Ok(())
}

/// sam's test for code it does not build but uploads as it is (`codeuri.endswith(".zip")`).
fn is_zip(uri: &str) -> bool {
    uri.ends_with(".zip")
}

/// A zip CodeUri or ContentUri names a regular file (sam would fail to upload anything else).
fn check_zip_file(project: &Project, zip: &Path, what: &str) -> Result<()> {
    let template_shown = project.config.template.display();
    match std::fs::symlink_metadata(project.path(zip)) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => bad_input!(
            "{what} in {template_shown} is {}, which is not a regular file: give the path of the zip",
            zip.display()
        ),
        Err(_) => bad_input!(
            "{what} in {template_shown} names {}, which does not exist: create the zip or fix the path",
            zip.display()
        ),
    }
}

/// A Python zip-package function whose CodeUri is a `.zip`: sam uploads it as it is.
fn zip_function(project: &Project, function: &TemplateFunction, template_dir: &Path) -> Result<Option<ZipPackage>> {
    let (Some(uri), Some(runtime)) = (function.code_uri.as_deref(), function.runtime.as_deref()) else {
        return Ok(None);
    };
    if !is_zip(uri) || !runtime.starts_with("python3.") || function.package_type.eq_ignore_ascii_case("Image") {
        return Ok(None);
    }
    let id = &function.logical_id;
    let path = code_dir(template_dir, uri, &format!("function {id}: CodeUri {uri:?}"))?;
    check_zip_file(project, &path, &format!("function {id}: CodeUri {uri}"))?;
    let runtime = runtime_of(function)?;
    let names = crate::sys::zip_archive::entry_names(&project.path(&path))?;
    let entry = entry_of(function, &project.config.template.display().to_string(), uri, |script| {
        names.iter().any(|name| name == script)
    })?;
    Ok(Some(ZipPackage { logical_id: id.clone(), path, runtime, entry: Some(entry) }))
}

/// The function's Runtime and Architectures as a Lambda runtime; an Architectures that does
/// not resolve is bad input, as sam build fails on it ("Architecture ... is not supported").
fn runtime_of(function: &TemplateFunction) -> Result<LambdaRuntime> {
    let id = &function.logical_id;
    if let Some(what) = function.not_text("Architectures") {
        bad_input!(
            "function {id}: Architectures is {what}, which has no value here (sam build fails on it too): give the parameter a Default, or a value in parameter_overrides of samconfig.toml"
        )
    }
    let runtime = function.runtime.as_deref().unwrap_or_default();
    LambdaRuntime::new(runtime, &function.architecture).with_context(|| format!("function {id}"))
}

/// Why a function of the template is not a target, for its notice.
struct NotGuarded {
    why: String,
    /// `PackageType: Image`: sam build needs Docker for it.
    image: bool,
}

/// `None` for a Python zip function with local code (a target); else why not. A function
/// the configuration names must be Python.
fn not_guarded(project: &Project, function: &TemplateFunction, configured: bool) -> Result<Option<NotGuarded>> {
    let template_shown = project.config.template.display();
    let id = &function.logical_id;
    let runtime = function.runtime.as_deref().unwrap_or("(none)");
    let because = |why: String| Ok(Some(NotGuarded { why, image: false }));
    if function.package_type.eq_ignore_ascii_case("Image") {
        let why =
            "PackageType Image: its Dockerfile builds it (sam build needs Docker), and this tool guards zip packages";
        return Ok(Some(NotGuarded { why: why.into(), image: true }));
    }
    if let Some(what) = function.not_text("Runtime") {
        return because(format!(
            "its Runtime is {what}, which has no value here: give the parameter a Default or a value in parameter_overrides"
        ));
    }
    if !runtime.starts_with("python3.") {
        if configured {
            bad_input!(
                "function {id}: Runtime {runtime:?} in {template_shown} is not a Python runtime (python3.X); this tool builds Python functions: remove its [[functions]] entry"
            )
        }
        return because(format!("Runtime {runtime} is not Python"));
    }
    if function.inline_code {
        return because("InlineCode: there is no code on disk to build".into());
    }
    if let Some(what) = function.not_text("CodeUri") {
        return because(format!("its CodeUri is {what}, not a local path this tool can resolve"));
    }
    match function.code_uri.as_deref() {
        Some(uri) if uri.starts_with("s3://") => {
            because(format!("CodeUri {uri} is an S3 location, not a local directory"))
        }
        // No CodeUri: SAM's default is the template's directory.
        _ => Ok(None),
    }
}

/// A Python zip function with local code, checked and resolved: its Handler and runtime
/// parsed, its CodeUri inside the repository and agreeing with any configured function_dir,
/// its backend_src present, its layers sorted into guarded here and not.
fn function_target(
    project: &Project,
    template: &Template,
    function: &TemplateFunction,
    entry: Option<&FunctionConfig>,
    template_dir: &Path,
    discovery: &Discovery,
) -> Result<BuildTarget> {
    let template_shown = project.config.template.display();
    let id = &function.logical_id;
    let uri = function.code_uri.as_deref().unwrap_or(".");
    let runtime = runtime_of(function)?;
    let dir = code_dir(template_dir, uri, &format!("function {id}: CodeUri {uri:?}"))?;
    let code = project.path(&dir);
    let (handler, script) = entry_of(function, &template_shown.to_string(), &dir.display().to_string(), |script| {
        std::fs::symlink_metadata(code.join(script)).is_ok_and(|m| !m.is_dir())
    })?;
    let config = entry.cloned().unwrap_or_else(|| FunctionConfig::defaults(id));
    if let Some(configured) = &config.function_dir {
        if normalize(configured) != dir {
            bad_input!(
                "function {id}: function_dir {} is not its CodeUri {uri} ({}), where sam reads its code: remove function_dir or fix CodeUri",
                configured.display(),
                dir.display()
            )
        }
    }
    let function_dir = function_code_dir(project, function, &config, &dir)?;
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
    let (layers, external_layers) = sort_layers(function, template, discovery);
    Ok(BuildTarget {
        config,
        template: function.clone(),
        handler,
        script,
        runtime,
        dir,
        function_dir,
        backend_src,
        layers,
        external_layers,
    })
}

/// The function dir, checked: it exists (a CodeUri naming no directory is bad input, as it
/// is to sam); one holding the xtask's own files is staged, and then neither cleaned with an
/// allowlist nor given a copied backend (both change the dir in place).
fn function_code_dir(
    project: &Project,
    function: &TemplateFunction,
    config: &FunctionConfig,
    dir: &Path,
) -> Result<CodeDir> {
    let id = &function.logical_id;
    let template_shown = project.config.template.display();
    let uri = function
        .code_uri
        .as_deref()
        .map(|u| format!("CodeUri {u}"))
        .unwrap_or_else(|| "no CodeUri (SAM's default: the template's directory)".into());
    let path = project.path(dir);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() || meta.file_type().is_symlink() => {}
        Ok(_) => bad_input!(
            "function {id}: {uri} in {template_shown} is {}, which is a file, not a directory: fix CodeUri",
            dir.display()
        ),
        Err(_) => bad_input!(
            "function {id}: {uri} in {template_shown} names {}, which does not exist: create it or fix CodeUri",
            dir.display()
        ),
    }
    if !crate::project::tool_files::ToolFiles::of(project).inside(dir) {
        return Ok(CodeDir::Own(OwnedDir::new(&project.root, &path)?));
    }
    let shown = crate::project::tool_files::shown(dir);
    if config.allowlist.is_some() || config.backend_src.is_some() {
        bad_input!(
            "function {id}: its function dir {shown} ({uri}) also holds the xtask's own files, so it is built from a staged copy and never changed: remove allowlist and backend_src from its [[functions]] entry, or give the function its own directory"
        )
    }
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        bad_input!("function {id}: function dir {shown} is a symlink: make it a real directory")
    }
    Ok(CodeDir::Staged(path))
}

/// The function's entry point: its Handler, parsed; or, when an exec wrapper is set and the
/// Handler names a file of the code (`exists`), that script. Bad input when the Handler is
/// missing, an intrinsic that does not resolve, or nothing Lambda could start. `code` is the
/// function's code as messages name it.
fn entry_of(
    function: &TemplateFunction,
    template_shown: &str,
    code: &str,
    exists: impl Fn(&str) -> bool,
) -> Result<(Handler, Option<Script>)> {
    let id = &function.logical_id;
    if let Some(what) = function.not_text("Handler") {
        bad_input!(
            "function {id}: Handler in {template_shown} is {what}, an intrinsic function this tool cannot resolve (it resolves !Ref and !Sub of parameters with a Default or an override): write it out (module.function, e.g. app.lambda_handler)"
        )
    }
    let Some(text) = function.handler.as_deref() else {
        bad_input!(
            "function {id} in {template_shown} has no Handler (nor Globals.Function.Handler): add Handler: module.function (e.g. app.lambda_handler)"
        )
    };
    let wrapper = exec_wrapper(function);
    if let Some(wrapper) = &wrapper {
        if inside_package(text) && exists(text) {
            let handler = Handler { file: text.to_string(), attribute: String::new() };
            return Ok((handler, Some(Script { path: text.to_string(), wrapper: wrapper.clone() })));
        }
    }
    match (Handler::parse(text), wrapper) {
        (Some(handler), _) => Ok((handler, None)),
        (None, Some(wrapper)) => bad_input!(
            "function {id}: Handler {text:?} in {template_shown} is neither module.function nor a file in {code} (AWS_LAMBDA_EXEC_WRAPPER {wrapper} would run it): add {text} to the function's code or fix Handler"
        ),
        (None, None) => bad_input!(
            "function {id}: Handler {text:?} in {template_shown} is not of the form module.function (e.g. app.lambda_handler or pkg/app.lambda_handler)"
        ),
    }
}

/// The function's layers: those guarded here (logical ids), and the others as shown.
fn sort_layers(function: &TemplateFunction, template: &Template, discovery: &Discovery) -> (Vec<String>, Vec<String>) {
    let mut layers = Vec::new();
    let mut external_layers = Vec::new();
    for layer in &function.layers {
        match layer {
            LayerRef::Resource(layer_id) if discovery.layer(layer_id).is_some() => layers.push(layer_id.clone()),
            LayerRef::Resource(layer_id) if template.layer(layer_id).is_some() => {
                external_layers.push(format!("{layer_id} (not guarded, see above)"))
            }
            LayerRef::Resource(other) => external_layers.push(other.clone()),
            LayerRef::External(arn) => external_layers.push(arn.clone()),
        }
    }
    (layers, external_layers)
}

/// A CodeUri/ContentUri relative to the template's directory, as a path relative to the
/// repository root that stays inside it.
fn code_dir(template_dir: &Path, uri: &str, what: &str) -> Result<PathBuf> {
    let joined = normalize(&template_dir.join(uri));
    if Path::new(uri).is_absolute() || joined.components().any(|c| matches!(c, Component::ParentDir)) {
        bad_input!("{what} leaves the repository: keep the code inside it")
    }
    Ok(joined)
}

/// `a/./b/../c/` -> `a/c`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if out.components().next_back().is_some_and(|c| matches!(c, Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The template's targets, each function's requirements.txt checked as pip would read it. Bad
/// input, never a change on disk.
pub fn resolve_targets(project: &Project, template: &Template) -> Result<Discovery> {
    let discovery = discover(project, template)?;
    for (target, _) in discovery.function_dirs() {
        check_requirements_txt(target)?;
    }
    Ok(discovery)
}

/// The function's requirements.txt, as pip will read it in sam build: a line pip would refuse
/// is bad input now rather than a pip failure a minute into the build. No file is fine (sam
/// then installs nothing).
fn check_requirements_txt(target: &BuildTarget) -> Result<()> {
    let path = target.function_dir.path().join("requirements.txt");
    let shown = target.dir.join("requirements.txt");
    let shown = shown.display();
    let bytes = match crate::sys::beneath::read(&path) {
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

/// One line per target for the start of a build: what the template yielded.
pub fn describe(discovery: &Discovery) -> Vec<String> {
    let mut lines = Vec::new();
    for target in &discovery.targets {
        let t = &target.template;
        let mut line = format!(
            "    function {}: {} {} in {} (Handler {})",
            target.logical_id(),
            target.runtime.name,
            t.architecture,
            target.dir_shown(),
            t.handler.as_deref().unwrap_or_default()
        );
        if let Some(event) = t.events.first() {
            line.push_str(&format!(", first event {}", event.kind));
        }
        if !target.layers.is_empty() {
            line.push_str(&format!(", layers {}", target.layers.join(", ")));
        }
        lines.push(line);
    }
    for layer in &discovery.layers {
        lines.push(format!("    layer {}: {} in {}", layer.logical_id(), layer.runtime, layer.dir.display()));
    }
    for zip in &discovery.zips {
        lines.push(format!(
            "notice: {} ships {} as it is ({} {}): sam builds no zip and uploads it unchanged, so its entries are guarded (the handler module, platform binaries, Python ABI, secrets) but nothing is built, cleaned or smoke-tested",
            zip.describe(),
            zip.path.display(),
            zip.runtime.name,
            zip.runtime.arch.template_name()
        ));
    }
    for target in &discovery.targets {
        if let Some(script) = &target.script {
            lines.push(format!(
                "notice: function {}: Handler {} is a script AWS_LAMBDA_EXEC_WRAPPER ({}) runs, not a Python import: it must be an executable file of the build output, and the smoke test imports nothing",
                target.logical_id(),
                script.path,
                script.wrapper
            ));
        }
    }
    if discovery.targets.is_empty() && discovery.zips.is_empty() {
        lines.push(
            "notice: no Python function here has code on disk to build or guard: sam builds and deploys the template as it is, and nothing is guarded".to_string(),
        );
    }
    lines.extend(discovery.notices.iter().cloned());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &Path, manifest: &str, template: &str) -> (Project, Template) {
        std::fs::write(dir.join("template.yaml"), template).unwrap();
        let project = Project::load(dir, manifest).unwrap();
        let template = Template::parse(template, "template.yaml").unwrap();
        (project, template)
    }

    const MINIMAL: &str = "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n";

    const MIXED: &str = r#"
Globals:
  Function:
    Runtime: python3.12
    Layers: [!Ref Shared]
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared/, CompatibleRuntimes: [python3.12]}
    Metadata: {BuildMethod: python3.12}
  Api:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.lambda_handler}
  Worker:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ./src, Handler: worker.handler, Layers: ['arn:aws:lambda:us-east-1:123:layer:x:1']}
  Node:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: web/, Handler: index.handler, Runtime: nodejs20.x}
  Container:
    Type: AWS::Serverless::Function
    Properties: {PackageType: Image}
"#;

    #[test]
    fn every_python_zip_function_is_a_target_and_the_rest_are_named() {
        let repo = tempfile::tempdir().unwrap();
        for dir in ["src", "web", "layers/shared"] {
            std::fs::create_dir_all(repo.path().join(dir)).unwrap();
        }
        let (project, template) = project(repo.path(), MINIMAL, MIXED);
        let found = discover(&project, &template).unwrap();
        let ids: Vec<&str> = found.targets.iter().map(|t| t.logical_id()).collect();
        assert_eq!(ids, ["Api", "Worker"]);
        assert_eq!(found.targets[1].dir, Path::new("src"));
        assert_eq!(found.targets[0].layers, ["Shared"]);
        assert_eq!(found.targets[1].external_layers, ["arn:aws:lambda:us-east-1:123:layer:x:1"]);
        assert_eq!(found.layers[0].runtime, "python3.12");
        let dirs = found.function_dirs();
        assert_eq!(dirs.len(), 1, "a shared CodeUri is one dir");
        assert_eq!(dirs[0].1, ["Api", "Worker"]);
        let notices = found.notices.join("\n");
        assert!(notices.contains("function Node is not guarded: Runtime nodejs20.x is not Python"), "{notices}");
        assert!(notices.contains("function Container is not guarded: PackageType Image"), "{notices}");
    }

    #[test]
    fn an_override_for_a_missing_or_non_python_function_is_bad_input() {
        let repo = tempfile::tempdir().unwrap();
        for dir in ["src", "web", "layers/shared"] {
            std::fs::create_dir_all(repo.path().join(dir)).unwrap();
        }
        for (id, expected) in [("Nope", "has no AWS::Serverless::Function Nope"), ("Node", "not a Python runtime")] {
            let manifest = format!("{MINIMAL}[[workspace.metadata.lambda.functions]]\nlogical_id = \"{id}\"\n");
            let (project, template) = project(repo.path(), &manifest, MIXED);
            let err = discover(&project, &template).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn code_uri_outside_the_repository_or_a_wrong_function_dir_is_bad_input() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("src")).unwrap();
        let outside = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: ../elsewhere, Handler: app.h, Runtime: python3.11}\n";
        let (p, t) = project(repo.path(), MINIMAL, outside);
        assert!(discover(&p, &t).unwrap_err().to_string().contains("leaves the repository"));
        let inside = outside.replace("../elsewhere", "src");
        let manifest =
            format!("{MINIMAL}[[workspace.metadata.lambda.functions]]\nlogical_id = \"F\"\nfunction_dir = \"other\"\n");
        let (p, t) = project(repo.path(), &manifest, &inside);
        assert!(discover(&p, &t).unwrap_err().to_string().contains("is not its CodeUri"));
    }

    #[test]
    fn handlers_are_read_as_lambda_reads_them() {
        let parsed = |h: &str| Handler::parse(h).map(|h| (h.file, h.attribute));
        assert_eq!(parsed("app.lambda_handler"), Some(("app.py".into(), "lambda_handler".into())));
        assert_eq!(parsed("app.main.handler"), Some(("app/main.py".into(), "handler".into())));
        assert_eq!(parsed("agent/handler.lambda_handler"), Some(("agent/handler.py".into(), "lambda_handler".into())));
        assert_eq!(parsed("src/agent.tools.run"), Some(("src/agent/tools.py".into(), "run".into())));
        assert_eq!(Handler::parse("agent/handler.lambda_handler").unwrap().module(), "agent.handler");
        // importlib imports a module by its file name: a hyphen is fine, as on Lambda.
        assert_eq!(parsed("my-module.handler"), Some(("my-module.py".into(), "handler".into())));
        assert_eq!(parsed("fns/create-snapshot.run"), Some(("fns/create-snapshot.py".into(), "run".into())));
        assert_eq!(Handler::parse("fns/create-snapshot.run").unwrap().module(), "fns.create-snapshot");
        assert_eq!(parsed("1st.handler"), Some(("1st.py".into(), "handler".into())));
        for bad in [
            "handler",
            "handler.",
            ".handler",
            "my module.handler",
            "app\t.handler",
            "handler.1x",
            "handler.my-fn",
            "a..b",
            "/abs/app.h",
            "../up.h",
            "a//b.h",
            "./app.h",
            "app/.h",
            "a/b/.h",
        ] {
            assert_eq!(Handler::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_intrinsic_or_missing_handler_is_named_as_such() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("src")).unwrap();
        let text = |handler: &str| {
            format!("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Runtime: python3.11\n{handler}")
        };
        for (handler, expected) in [
            (
                "      Handler: !Sub '${Prefix}.handler'\n",
                "Handler in template.yaml is !Sub ${Prefix}.handler, an intrinsic function",
            ),
            ("", "has no Handler"),
            ("      Handler: 'app..handler'\n", "is not of the form module.function"),
        ] {
            let (p, t) = project(repo.path(), MINIMAL, &text(handler));
            let err = discover(&p, &t).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
            assert!(err.to_string().contains(expected), "{err}");
        }
        // A hyphenated module file is what Lambda's importlib call imports: no bad input.
        let (p, t) = project(repo.path(), MINIMAL, &text("      Handler: 'app-main.handler'\n"));
        assert_eq!(discover(&p, &t).unwrap().targets[0].handler.file, "app-main.py");
    }

    #[test]
    fn a_root_content_uri_is_refused_unless_a_makefile_builds_the_layer() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("fn")).unwrap();
        let text = |metadata: &str| {
            format!("Resources:\n  Deps:\n    Type: AWS::Serverless::LayerVersion\n    Properties: {{ContentUri: ./, CompatibleRuntimes: [python3.12]}}\n{metadata}  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: fn/, Handler: app.handler, Runtime: python3.12, Layers: [!Ref Deps]}}\n")
        };
        // Shipped as it is, or copied whole by a Python build: target/ and Cargo.toml would ship.
        for metadata in ["", "    Metadata: {BuildMethod: python3.12}\n"] {
            let (p, t) = project(repo.path(), MINIMAL, &text(metadata));
            let err = discover(&p, &t).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT, "{metadata}");
            assert!(err.to_string().contains("that sam would put in the layer"), "{err}");
        }
        // A makefile build ships only what make writes to $ARTIFACTS_DIR: a notice, no refusal.
        let (p, t) = project(repo.path(), MINIMAL, &text("    Metadata: {BuildMethod: makefile}\n"));
        let found = discover(&p, &t).unwrap();
        assert!(found.layers[0].makefile());
        assert_eq!(found.targets[0].layers, ["Deps"]);
        assert!(
            found.notices.iter().any(|n| n.contains("layer Deps") && n.contains("$ARTIFACTS_DIR")),
            "{:?}",
            found.notices
        );
    }

    #[test]
    fn a_script_handler_needs_an_exec_wrapper_and_a_file() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("web")).unwrap();
        std::fs::write(repo.path().join("web/run.sh"), "#!/bin/sh\n").unwrap();
        let text = |env: &str, handler: &str| {
            format!("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: web\n      Runtime: python3.11\n      Handler: {handler}\n{env}")
        };
        let wrapper = "      Environment:\n        Variables: {AWS_LAMBDA_EXEC_WRAPPER: /opt/bootstrap}\n";
        let (p, t) = project(repo.path(), MINIMAL, &text(wrapper, "run.sh"));
        let target = &discover(&p, &t).unwrap().targets[0];
        assert_eq!(target.script, Some(Script { path: "run.sh".into(), wrapper: "/opt/bootstrap".into() }));
        assert!(target.source(&p).script);
        // Without the wrapper the runtime imports it: module run, as Lambda would.
        let (p, t) = project(repo.path(), MINIMAL, &text("", "run.sh"));
        let target = &discover(&p, &t).unwrap().targets[0];
        assert_eq!((target.script.as_ref(), target.handler.file.as_str()), (None, "run.py"));
        // A wrapper and a Handler that is neither a file nor module.function.
        let (p, t) = project(repo.path(), MINIMAL, &text(wrapper, "start-server"));
        let err = discover(&p, &t).unwrap_err().to_string();
        assert!(err.contains("is neither module.function nor a file in web"), "{err}");
    }

    #[test]
    fn build_properties_resolve_from_parameters_and_an_unresolved_architecture_is_bad_input() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("src")).unwrap();
        let text = |default: &str| {
            format!("Parameters:\n  Arch: {{Type: String{default}}}\n  Code: {{Type: String, Default: src/}}\n  Module: {{Type: String, Default: app}}\nGlobals:\n  Function:\n    Architectures: [!Ref Arch]\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: !Ref Code, Handler: !Sub '${{Module}}.handler', Runtime: python3.11}}\n")
        };
        let (p, t) = project(repo.path(), MINIMAL, &text(", Default: arm64"));
        let found = discover(&p, &t).unwrap();
        let target = &found.targets[0];
        assert_eq!((target.runtime.arch.template_name(), target.dir.as_path()), ("arm64", Path::new("src")));
        assert_eq!(target.handler.file, "app.py");
        let (p, t) = project(repo.path(), MINIMAL, &text(""));
        let err = discover(&p, &t).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("Architectures is !Ref Arch, which has no value here"), "{err}");
    }

    #[test]
    fn a_zip_code_uri_is_a_zip_package_and_a_missing_zip_bad_input() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("dist")).unwrap();
        let text = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: dist/code.zip, Handler: app.handler, Runtime: python3.11}\n";
        let (p, t) = project(repo.path(), MINIMAL, text);
        let err = discover(&p, &t).unwrap_err();
        assert!(err.to_string().contains("names dist/code.zip, which does not exist"), "{err}");
        let file = std::fs::File::create(repo.path().join("dist/code.zip")).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        zip.start_file("app.py", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, b"def handler(e, c): pass\n").unwrap();
        zip.finish().unwrap();
        let found = discover(&p, &t).unwrap();
        assert!(found.targets.is_empty());
        assert_eq!(found.zips[0].path, Path::new("dist/code.zip"));
        assert_eq!(found.zips[0].entry.as_ref().unwrap().0.file, "app.py");
    }

    proptest::proptest! {
        #[test]
        fn handler_parse_never_panics(handler in "\\PC{0,40}") {
            let _ = Handler::parse(&handler);
        }
    }

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(normalize(Path::new("infra/./fns/../fns/a/")), Path::new("infra/fns/a"));
        assert_eq!(normalize(Path::new("./src")), Path::new("src"));
    }
}
