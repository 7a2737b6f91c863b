//! The xtask's configuration: `[workspace.metadata.lambda]` in the root `Cargo.toml`.
//!
//! Every path is relative to the repository root. Unknown keys are refused, so a typo in a key
//! name fails loudly instead of silently falling back to a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::bad_input;
use crate::sys::layout;

pub const DEFAULT_SAM_CLI_VERSION: &str = "1.170.0";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaConfig {
    /// The SAM template, e.g. `infra/lambda/template.yaml`. sam runs in its directory.
    pub template: PathBuf,
    /// The SAM CLI configuration with one table per environment; default `samconfig.toml`
    /// beside the template (see [`Project::samconfig`]). A build needs none.
    pub samconfig: Option<PathBuf>,
    /// SAM CLI version installed into the tool cache when `sam` is not on PATH.
    #[serde(default = "default_sam_cli_version")]
    pub sam_cli_version: String,
    /// uv, installed into the tool cache when not on PATH, for SAM's `python-uv` build method
    /// (functions whose runtime has no interpreter here and no Docker to build in).
    #[serde(default = "default_uv_version")]
    pub uv_version: String,
    /// A sam build or deploy still running after this long is killed and reported as hung.
    #[serde(default = "default_sam_timeout_minutes")]
    pub sam_timeout_minutes: u64,
    /// The AWS SDK a Lambda runtime ships, where it differs from the pinned table (see
    /// `guards::runtime_sdk`): `[[workspace.metadata.lambda.runtime_sdk]]` entries with `runtime`,
    /// `boto3`, `botocore` and `s3transfer`. The smoke test loads it after the artifact and
    /// its layers, as Lambda does.
    #[serde(default)]
    pub runtime_sdk: Vec<crate::project::runtime_sdk::ConfiguredSdk>,
    /// Per-function overrides, by logical id. Every Python zip function of the template is
    /// built and guarded whether it has an entry or not.
    #[serde(default)]
    pub functions: Vec<FunctionConfig>,
    /// lambda-deploy's settings: `[workspace.metadata.lambda.deploy]` (docs/deploy.md, Environments).
    #[serde(default)]
    pub deploy: crate::project::deploy_settings::DeploySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// Logical id of the `AWS::Serverless::Function` in the template.
    pub logical_id: String,
    /// The function's source directory; default: the template's CodeUri. Must be that
    /// directory when given (it is where sam reads the code from).
    pub function_dir: Option<PathBuf>,
    /// Backend source copied into the function dir by copy-backend; none for a function
    /// whose code lives in its own directory.
    pub backend_src: Option<PathBuf>,
    /// Name of the copy inside the function dir.
    #[serde(default = "default_copy_to")]
    pub copy_to: String,
    /// Entries of the function dir that clean keeps; everything else is removed (never a
    /// file git tracks). None: clean removes only what it can prove an installer put there.
    pub allowlist: Option<Vec<String>>,
    /// Bundle boto3/botocore/s3transfer on purpose instead of using the runtime's (guard
    /// bundled-aws-sdk then requires all three, consistent with each other).
    #[serde(default)]
    pub allow_bundled_aws_sdk: bool,
    /// The path the cold-start smoke test requests through a synthetic API Gateway event;
    /// default: the path of the function's first Api/HttpApi event.
    pub smoke_test_path: Option<String>,
    /// What the smoke test does: invoke the handler (default), only import it, or nothing.
    #[serde(default)]
    pub smoke_test: SmokeTestMode,
    /// An event file (like `sam local invoke -e`), relative to the repository root, used
    /// instead of the synthetic event of the function's first event source.
    pub smoke_test_event: Option<PathBuf>,
}

impl FunctionConfig {
    /// The settings of a function the configuration does not list: every default.
    pub fn defaults(logical_id: &str) -> FunctionConfig {
        FunctionConfig {
            logical_id: logical_id.to_string(),
            function_dir: None,
            backend_src: None,
            copy_to: default_copy_to(),
            allowlist: None,
            allow_bundled_aws_sdk: false,
            smoke_test_path: None,
            smoke_test: SmokeTestMode::default(),
            smoke_test_event: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmokeTestMode {
    /// Import the handler cold, then invoke it with the event of its first event source.
    #[default]
    Invoke,
    /// Import the handler cold; do not invoke it.
    Import,
    /// No smoke test for this function.
    Off,
}

fn default_sam_cli_version() -> String {
    DEFAULT_SAM_CLI_VERSION.to_string()
}

pub use crate::sys::tools::DEFAULT_UV_VERSION;

fn default_uv_version() -> String {
    DEFAULT_UV_VERSION.to_string()
}

fn default_sam_timeout_minutes() -> u64 {
    45
}

fn default_copy_to() -> String {
    "src".to_string()
}

/// The repository the xtask works on, with its configuration.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: LambdaConfig,
}

impl Project {
    /// Finds the repository root: the nearest ancestor of the current directory whose
    /// `Cargo.toml` has a `[workspace.metadata.lambda]` table.
    pub fn discover() -> Result<Project> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        for dir in cwd.ancestors() {
            let manifest = dir.join("Cargo.toml");
            let Ok(text) = crate::sys::beneath::read_to_string(&manifest) else {
                continue;
            };
            if text.contains("metadata.lambda") {
                return Project::load(dir, &text);
            }
        }
        bad_input!(
            "no Cargo.toml with [workspace.metadata.lambda] in {} or above: run cargo xtask from inside the repository",
            cwd.display()
        )
    }

    pub fn load(root: &Path, manifest_text: &str) -> Result<Project> {
        let config = parse_config(manifest_text)?;
        let root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
        Ok(Project { root, config })
    }

    pub fn path(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    pub fn sam_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.sam_timeout_minutes.saturating_mul(60))
    }

    /// SAM's build output: `.aws-sam/build` beside the template.
    pub fn build_dir(&self) -> PathBuf {
        layout::build_dir(&self.sam_dir())
    }

    pub fn template_path(&self) -> PathBuf {
        self.path(&self.config.template)
    }

    /// The directory sam runs in: the template's.
    pub fn sam_dir(&self) -> PathBuf {
        let template = self.template_path();
        template.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone())
    }

    /// The samconfig, relative to the root: as configured, else `samconfig.toml` beside the
    /// template (sam's own default).
    pub fn samconfig(&self) -> PathBuf {
        match &self.config.samconfig {
            Some(path) => path.clone(),
            None => self.config.template.parent().unwrap_or(Path::new("")).join("samconfig.toml"),
        }
    }
}

/// The manifest with the lambda table typed: its errors carry a position in the text.
#[derive(Deserialize)]
struct TypedManifest {
    #[allow(dead_code)]
    workspace: TypedWorkspace,
}

#[derive(Deserialize)]
struct TypedWorkspace {
    #[allow(dead_code)]
    metadata: TypedMetadata,
}

#[derive(Deserialize)]
struct TypedMetadata {
    #[allow(dead_code)]
    lambda: LambdaConfig,
}

#[derive(Deserialize)]
struct Manifest {
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    lambda: Option<toml::Value>,
}

pub fn parse_config(manifest_text: &str) -> Result<LambdaConfig> {
    let manifest: Manifest = match toml::from_str(manifest_text) {
        Ok(m) => m,
        Err(err) => bad_input!("Cargo.toml is not valid TOML: {}", one_line(&err.to_string())),
    };
    let Some(table) = manifest.workspace.and_then(|w| w.metadata).and_then(|m| m.lambda) else {
        bad_input!(
            "Cargo.toml has no [workspace.metadata.lambda] table: add one (see lambda-xtask's docs/configuration.md)"
        )
    };
    let config: LambdaConfig = match table.try_into() {
        Ok(c) => c,
        // Parsed again from the text, typed, for the error's line and column (a Value has
        // lost its spans).
        Err(err) => match toml::from_str::<TypedManifest>(manifest_text) {
            Err(with_position) => {
                bad_input!("Cargo.toml [workspace.metadata.lambda]: {}", one_line(&with_position.to_string()))
            }
            Ok(_) => bad_input!("Cargo.toml [workspace.metadata.lambda]: {}", one_line(&err.to_string())),
        },
    };
    validate(&config)?;
    config.deploy.validate()?;
    Ok(config)
}

fn validate(config: &LambdaConfig) -> Result<()> {
    for path in [Some(&config.template), config.samconfig.as_ref()].into_iter().flatten() {
        if path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            bad_input!(
                "Cargo.toml [workspace.metadata.lambda]: path {} must be relative to the repository root and stay inside it",
                path.display()
            )
        }
    }
    for (i, entry) in config.runtime_sdk.iter().enumerate() {
        let runtime = &entry.runtime;
        let minor = runtime.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok());
        if minor.is_none() {
            bad_input!(
                "Cargo.toml [[workspace.metadata.lambda.runtime_sdk]]: runtime {runtime:?} is not a Python runtime: name one like \"python3.12\""
            )
        }
        if config.runtime_sdk[..i].iter().any(|e| &e.runtime == runtime) {
            bad_input!("Cargo.toml [[workspace.metadata.lambda.runtime_sdk]]: {runtime} has two entries: keep one")
        }
        if let Err(why) = entry.set().validate(runtime) {
            bad_input!("Cargo.toml [[workspace.metadata.lambda.runtime_sdk]]: {why}")
        }
    }
    let mut seen = std::collections::HashSet::new();
    for function in &config.functions {
        if !seen.insert(&function.logical_id) {
            bad_input!(
                "Cargo.toml [workspace.metadata.lambda]: function {} has two [[functions]] entries: merge them into one",
                function.logical_id
            )
        }
        for path in [function.function_dir.as_ref(), function.backend_src.as_ref(), function.smoke_test_event.as_ref()]
            .into_iter()
            .flatten()
        {
            if path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                bad_input!(
                    "function {}: path {} must be relative to the repository root and stay inside it",
                    function.logical_id,
                    path.display()
                )
            }
        }
        if function.copy_to.is_empty() || function.copy_to.contains(['/', '\\']) || function.copy_to.starts_with('.') {
            bad_input!(
                "function {}: copy_to {:?} must be a plain directory name like \"src\"",
                function.logical_id,
                function.copy_to
            )
        }
        if let Some(path) = function.smoke_test_path.as_ref().filter(|p| !p.starts_with('/')) {
            bad_input!(
                "function {}: smoke_test_path {path:?} must be a request path starting with /, like \"/health\"",
                function.logical_id,
            )
        }
        let allowlist = function.allowlist.as_deref().unwrap_or_default();
        if function.backend_src.is_some() && function.allowlist.is_some() && !allowlist.contains(&function.copy_to) {
            bad_input!(
                "function {}: the allowlist must keep the copied source {:?}, or clean would delete it: add it to allowlist",
                function.logical_id,
                function.copy_to
            )
        }
    }
    Ok(())
}

/// toml's errors span several lines with a source excerpt; the first line carries the
/// position and the message, which is what a one-line error needs.
pub fn one_line(message: &str) -> String {
    message.split('\n').map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('|')).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[workspace]
members = ["xtask"]
[workspace.metadata.lambda]
template = "infra/lambda/template.yaml"
samconfig = "infra/lambda/samconfig.toml"
[[workspace.metadata.lambda.functions]]
logical_id = "BackendFunction"
function_dir = "infra/lambda/functions/backend"
backend_src = "backend/src"
"#;

    #[test]
    fn sample_config_parses_with_defaults() {
        let config = parse_config(SAMPLE).unwrap();
        assert_eq!(config.functions[0].copy_to, "src");
        assert_eq!(config.functions[0].allowlist, None);
        assert_eq!(config.functions[0].smoke_test, SmokeTestMode::Invoke);
        assert_eq!(config.sam_cli_version, DEFAULT_SAM_CLI_VERSION);
    }

    proptest::proptest! {
        /// Arbitrary text and mangled real configs: bad input (exit 2), never a panic.
        #[test]
        fn parse_config_never_panics(text in "\\PC{0,300}") {
            if let Err(err) = parse_config(&text) {
                proptest::prop_assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
            }
        }

        #[test]
        fn parse_of_a_mangled_config_is_bad_input_or_ok(cut in 0usize..400, insert in "[ -~\n]{0,10}") {
            let mut text = SAMPLE.to_string();
            let at = cut % SAMPLE.len();
            text.insert_str(at, &insert);
            if let Err(err) = parse_config(&text) {
                proptest::prop_assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
                proptest::prop_assert!(!err.to_string().contains('\n'), "not one line: {}", err);
            }
        }
    }

    #[test]
    fn the_template_alone_is_a_config() {
        let config = parse_config("[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n").unwrap();
        assert!(config.functions.is_empty());
        let project = Project { root: PathBuf::from("/repo"), config };
        assert_eq!(project.samconfig(), Path::new("samconfig.toml"));
        let nested = parse_config("[workspace.metadata.lambda]\ntemplate = \"infra/template.yml\"\n").unwrap();
        assert_eq!(
            Project { root: PathBuf::from("/r"), config: nested }.samconfig(),
            Path::new("infra/samconfig.toml")
        );
    }

    #[test]
    fn smoke_test_modes_parse_and_a_typo_is_bad_input() {
        let text = format!("{SAMPLE}smoke_test = \"import\"\n");
        assert_eq!(parse_config(&text).unwrap().functions[0].smoke_test, SmokeTestMode::Import);
        let err = parse_config(&format!("{SAMPLE}smoke_test = \"skip\"\n")).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
    }

    #[test]
    fn two_entries_for_one_function_are_bad_input() {
        let text = format!("{SAMPLE}[[workspace.metadata.lambda.functions]]\nlogical_id = \"BackendFunction\"\n");
        let err = parse_config(&text).unwrap_err();
        assert!(err.to_string().contains("two [[functions]] entries"), "{err}");
    }

    #[test]
    fn unknown_key_is_bad_input() {
        let text = SAMPLE.replace("backend_src =", "backend_source =");
        let err = parse_config(&text).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("backend_source"), "{err}");
    }

    #[test]
    fn path_escaping_the_repo_is_bad_input() {
        let text = SAMPLE.replace("\"backend/src\"", "\"../elsewhere\"");
        let err = parse_config(&text).unwrap_err();
        assert!(err.to_string().contains("stay inside"), "{err}");
    }

    #[test]
    fn allowlist_without_the_copy_is_bad_input() {
        let text = format!("{SAMPLE}allowlist = [\"handler.py\"]\n");
        let err = parse_config(&text).unwrap_err();
        assert!(err.to_string().contains("clean would delete it"), "{err}");
    }

    #[test]
    fn runtime_sdk_overrides_one_runtime_and_refuses_what_is_not_a_version() {
        let entry = "[[workspace.metadata.lambda.runtime_sdk]]\nruntime = \"python3.12\"\nboto3 = \"1.40.0\"\nbotocore = \"1.40.0\"\ns3transfer = \"0.13.1\"\n";
        let text = format!("{SAMPLE}{entry}");
        let config = parse_config(&text).unwrap();
        assert_eq!(config.runtime_sdk[0].set().botocore, "1.40.0");
        let bad = text.replace("botocore = \"1.40.0\"", "botocore = \">=1.40\"");
        let err = parse_config(&bad).unwrap_err().to_string();
        assert!(err.contains("runtime_sdk for python3.12: botocore = \">=1.40\" is not a version"), "{err}");
        let err = parse_config(&text.replace("\"python3.12\"", "\"nodejs20.x\"")).unwrap_err().to_string();
        assert!(err.contains("runtime \"nodejs20.x\" is not a Python runtime"), "{err}");
        let err = parse_config(&format!("{text}{entry}")).unwrap_err().to_string();
        assert!(err.contains("python3.12 has two entries"), "{err}");
        let err = parse_config(&text.replace("s3transfer = \"0.13.1\"\n", "")).unwrap_err().to_string();
        assert!(err.contains("s3transfer"), "{err}");
    }
}
