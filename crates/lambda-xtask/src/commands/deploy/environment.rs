//! Which environment a deploy goes to: its table in samconfig.toml, or, for the rehearsal
//! (`--env local`), defaults that need nothing from the user: no samconfig.toml, no table,
//! no `[deploy.environments.local]`. What the defaults filled in is said in the output.

use std::path::Path;

use anyhow::Result;

use crate::aws::moto;
use crate::bad_input;
use crate::project::placeholder;
use crate::project::samconfig::{SamConfig, SamEnvironment};
use crate::project::template::Template;

/// The rehearsal's region when its table names none: moto serves any, and the user's
/// AWS_REGION belongs to the real environments.
pub const REHEARSAL_REGION: &str = "us-east-1";

/// An environment, with where its values came from.
#[derive(Debug, Clone)]
pub struct DeployEnvironment {
    pub sam: SamEnvironment,
    /// The environment has a table in samconfig.toml, which sam reads itself.
    pub in_samconfig: bool,
    /// What the rehearsal's defaults filled in, e.g. `stack sam-app-local`: said in the output.
    pub defaults: Vec<String>,
}

/// Reads the environment's table; the rehearsal fills in what is missing. `root` names the
/// default stack (after the repository's directory).
pub fn resolve(
    samconfig_path: &Path,
    samconfig_shown: &str,
    name: &str,
    rehearsal: bool,
    root: &Path,
) -> Result<DeployEnvironment> {
    let samconfig = if rehearsal && !samconfig_path.exists() {
        None
    } else {
        Some(SamConfig::load(samconfig_path, samconfig_shown)?)
    };
    let has_table = samconfig.as_ref().is_some_and(|c| c.environment_names().contains(&name));
    if !rehearsal || has_table {
        let config = samconfig.expect("loaded unless a rehearsal without samconfig.toml");
        // The rehearsal's table holds what the user chose to set: what it leaves out is filled
        // in as with no table at all, the stack's name too.
        let default_stack_name = rehearsal.then(|| default_stack(root, name));
        let mut sam = config.environment_or(name, default_stack_name.as_deref())?;
        let mut defaults = Vec::new();
        if rehearsal {
            if default_stack_name.as_deref() == Some(sam.stack_name.as_str()) && !config.sets_stack_name(name) {
                defaults.push(format!("stack {}", sam.stack_name));
            }
            if sam.resolve_s3 {
                bad_input!("{name} is the rehearsal against moto, where resolve_s3 fails: remove resolve_s3 from [{name}.deploy.parameters] of {samconfig_shown} (the rehearsal then uses a bucket of its own), or set s3_bucket = \"<name>\"")
            }
            if sam.s3_bucket.is_none() {
                let bucket = default_bucket(&sam.stack_name);
                defaults.push(format!("bucket {bucket}"));
                sam.s3_bucket = Some(bucket);
            }
            if sam.region.is_none() {
                defaults.push(format!("region {REHEARSAL_REGION}"));
                sam.region = Some(REHEARSAL_REGION.to_string());
            }
        }
        return Ok(DeployEnvironment { sam, in_samconfig: true, defaults });
    }
    let stack_name = default_stack(root, name);
    let bucket = default_bucket(&stack_name);
    let defaults =
        vec![format!("stack {stack_name}"), format!("bucket {bucket}"), format!("region {REHEARSAL_REGION}")];
    let sam = SamEnvironment {
        name: name.to_string(),
        stack_name,
        region: Some(REHEARSAL_REGION.to_string()),
        profile: None,
        s3_bucket: Some(bucket),
        resolve_s3: false,
        overrides: Vec::new(),
        tags: Vec::new(),
    };
    Ok(DeployEnvironment { sam, in_samconfig: false, defaults })
}

/// Values for the parameters the rehearsal would otherwise lack (no Default, no override, not
/// of a type the local AWS gives a value of its own: see `moto::seeds_parameter_type`):
/// nothing runs in moto, so a value that names itself does, within the parameter's
/// AllowedValues, AllowedPattern and length or value bounds. A parameter no such value can be
/// shown for gets none: the user must say (`check_parameters`).
pub fn rehearsal_placeholders(template: &Template, env: &SamEnvironment) -> Vec<(String, String)> {
    template
        .parameters
        .iter()
        .filter(|p| p.default.is_none() && env.override_value(&p.name).is_none())
        .filter(|p| !moto::seeds_parameter_type(template.parameter_kind(p)))
        .filter_map(|p| Some((p.name.clone(), placeholder::plain_value(p)?)))
        .collect()
}

/// Where the user puts a value for `key`, said so that doing exactly that works: into the
/// environment's table when it has one, a new table when samconfig.toml has none, a new file
/// (sam reads none without its `version` line) when there is no samconfig.toml.
pub fn override_fix(env: &str, key: &str, samconfig_shown: &str, samconfig_exists: bool, in_samconfig: bool) -> String {
    if in_samconfig {
        format!("add \"{key}=...\" to parameter_overrides in [{env}.deploy.parameters] of {samconfig_shown}")
    } else if samconfig_exists {
        format!(
            "add a [{env}.deploy.parameters] table holding parameter_overrides = \"{key}=...\" to {samconfig_shown}"
        )
    } else {
        format!(
            "create {samconfig_shown} holding the line version = 0.1 and a [{env}.deploy.parameters] table with parameter_overrides = \"{key}=...\""
        )
    }
}

/// `<directory>-<env>`, in the characters a stack name allows (letters, digits, `-`; a letter
/// first; at most 128).
pub fn default_stack(root: &Path, env: &str) -> String {
    let dir = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut base: String = dir.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    base = base.trim_start_matches(|c: char| !c.is_ascii_alphabetic()).to_string();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let base = base.trim_end_matches('-');
    let base = if base.is_empty() { "sam-app" } else { base };
    let mut name = format!("{base}-{env}");
    name.truncate(128);
    name
}

/// `<stack>-artifacts`, lower case, at most 63 characters (S3's rules).
pub fn default_bucket(stack: &str) -> String {
    let mut base: String =
        stack.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    base.truncate(63 - "-artifacts".len());
    format!("{}-artifacts", base.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_named_after_the_directory() {
        assert_eq!(default_stack(Path::new("/src/sam-app"), "local"), "sam-app-local");
        assert_eq!(default_stack(Path::new("/tmp/.tmpAb_12"), "local"), "tmpAb-12-local");
        assert_eq!(default_stack(Path::new("/"), "local"), "sam-app-local");
        assert_eq!(default_bucket("Stock_Trader-local"), "stock-trader-local-artifacts");
        let long = default_bucket(&"a".repeat(100));
        assert!(long.len() <= 63 && long.ends_with("-artifacts"), "{long}");
    }

    #[test]
    fn parameters_without_a_value_get_placeholders_that_name_them() {
        let template = Template::parse(
            "Parameters:\n  TableName: {Type: String}\n  Size: {Type: Number}\n  Stage: {Type: String, Default: Prod}\n  Vpc: {Type: 'AWS::EC2::VPC::Id'}\n  Key: {Type: 'AWS::EC2::KeyPair::KeyName'}\nResources: {}\n",
            "t",
        )
        .unwrap();
        let root = Path::new("/src/app");
        let env = resolve(&root.join("samconfig.toml"), "samconfig.toml", "local", true, root).unwrap();
        assert_eq!(
            rehearsal_placeholders(&template, &env.sam),
            [("TableName".to_string(), "rehearsal-tablename".to_string()), ("Size".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn the_rehearsal_needs_no_samconfig() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("hello-app");
        let env = resolve(&root.join("samconfig.toml"), "samconfig.toml", "local", true, &root).unwrap();
        assert!(!env.in_samconfig);
        assert_eq!(env.sam.stack_name, "hello-app-local");
        assert_eq!(env.sam.s3_bucket.as_deref(), Some("hello-app-local-artifacts"));
        assert_eq!(env.defaults, ["stack hello-app-local", "bucket hello-app-local-artifacts", "region us-east-1"]);
        // A real environment still needs its table.
        let err = resolve(&root.join("samconfig.toml"), "samconfig.toml", "dev", false, &root).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
    }

    #[test]
    fn a_samconfig_without_a_local_table_or_bucket_gets_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samconfig.toml");
        // What `sam deploy --guided` writes.
        std::fs::write(&path, "version = 0.1\n[default.deploy.parameters]\nstack_name = \"sam-app\"\nresolve_s3 = true\n[local.deploy.parameters]\nstack_name = \"mine\"\n").unwrap();
        let env = resolve(&path, "samconfig.toml", "local", true, dir.path()).unwrap();
        assert!(env.in_samconfig);
        assert_eq!(env.sam.stack_name, "mine");
        assert_eq!(env.defaults, ["bucket mine-artifacts", "region us-east-1"]);
        std::fs::write(
            &path,
            "version = 0.1\n[default.deploy.parameters]\nstack_name = \"sam-app\"\nresolve_s3 = true\n",
        )
        .unwrap();
        let env = resolve(&path, "samconfig.toml", "local", true, dir.path()).unwrap();
        assert!(!env.in_samconfig, "the default table is not the rehearsal's");
    }
}
