//! The SAM CLI's `samconfig.toml`: one table per environment, `[<env>.deploy.parameters]`
//! (with `[<env>.global.parameters]` underneath, as sam merges them). The environments of
//! lambda-deploy are the tables that have a `deploy` section.
//!
//! Only what the xtask checks or must pass on is read; sam reads the rest itself.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use toml::{Table, Value};

use crate::bad_input;
use crate::project::config::one_line;

/// One `Key=Value` of `parameter_overrides`, with the samconfig line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterOverride {
    pub key: String,
    pub value: String,
    /// 1-based line in samconfig.toml, when it could be found.
    pub line: Option<u32>,
}

/// An environment's deploy parameters, as sam would merge them.
#[derive(Debug, Clone)]
pub struct SamEnvironment {
    pub name: String,
    pub stack_name: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub s3_bucket: Option<String>,
    pub resolve_s3: bool,
    pub overrides: Vec<ParameterOverride>,
    pub tags: Vec<(String, String)>,
}

impl SamEnvironment {
    /// The region sam and the aws CLI deploy this environment to: samconfig.toml's, else
    /// AWS_REGION, else AWS_DEFAULT_REGION (an empty variable counts as unset). The one
    /// resolution every command uses; none is bad input.
    pub fn region(&self, samconfig_shown: &str) -> Result<String> {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match self.region.clone().or_else(|| from_env("AWS_REGION")).or_else(|| from_env("AWS_DEFAULT_REGION")) {
            Some(region) => Ok(region),
            None => {
                let name = &self.name;
                bad_input!(
                    "no region for {name}: set region in [{name}.deploy.parameters] of {samconfig_shown}, or AWS_REGION"
                )
            }
        }
    }

    pub fn override_value(&self, key: &str) -> Option<&ParameterOverride> {
        self.overrides.iter().rev().find(|o| o.key == key)
    }
}

pub struct SamConfig {
    text: String,
    shown_as: String,
    environments: BTreeMap<String, Table>,
    has_version: bool,
}

/// samconfig.toml, which sam build reads from the template's dir: malformed, it fails sam
/// after copy-backend, clean and the guards have run and the manifest is gone, so it is bad
/// input for every command that runs sam (and lambda-check) before anything changes. A missing
/// one is fine for a build (sam needs none).
pub fn check_for_sam_build(project: &crate::project::config::Project) -> Result<()> {
    let samconfig = project.samconfig();
    let shown = samconfig.display().to_string();
    match crate::sys::beneath::read_to_string(project.path(&samconfig)) {
        Ok(text) => SamConfig::parse(text, &shown).map(|_| ()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("reading {shown}")),
    }
}

/// The `parameter_overrides` plain `sam build` applies: those of samconfig.toml's `default`
/// environment in `[default.global.parameters]`, then `[default.build.parameters]` (sam's
/// `--config-env` default; a later table wins, as sam merges them). None without a
/// samconfig.toml; a malformed one is bad input (see [`check_for_sam_build`]).
pub fn build_overrides(project: &crate::project::config::Project) -> Result<Vec<(String, String)>> {
    let samconfig = project.samconfig();
    let shown = samconfig.display().to_string();
    let text = match crate::sys::beneath::read_to_string(project.path(&samconfig)) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {shown}")),
    };
    let table: Table = match toml::from_str(&text) {
        Ok(table) => table,
        Err(err) => bad_input!("{shown} is not valid TOML: {}", one_line(&err.to_string())),
    };
    let mut pairs = Vec::new();
    for command in ["global", "build"] {
        let value = table
            .get("default")
            .and_then(|env| env.get(command))
            .and_then(|section| section.get("parameters"))
            .and_then(|parameters| parameters.get("parameter_overrides"));
        let entries: Vec<&str> = match value {
            None => continue,
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(other) => bad_input!(
                "{shown} [default.{command}.parameters] parameter_overrides must be a string or a list of strings, not {}",
                other.type_str()
            ),
        };
        for entry in entries {
            for pair in split_pairs(entry) {
                let Some(pair) = pair else {
                    bad_input!(
                        "{shown} [default.{command}.parameters] parameter_overrides: {entry:?} is not of the form Key=Value"
                    )
                };
                pairs.push(pair);
            }
        }
    }
    Ok(pairs)
}

impl SamConfig {
    pub fn load(path: &Path, shown_as: &str) -> Result<SamConfig> {
        let text = match crate::sys::beneath::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => bad_input!(
                "{shown_as} not found: create it with one [<env>.deploy.parameters] table per environment, or fix `samconfig` in [workspace.metadata.lambda]"
            ),
            Err(err) => return Err(err).with_context(|| format!("reading {shown_as}")),
        };
        let config = SamConfig::parse(text, shown_as)?;
        if !config.has_version {
            bad_input!(
                "{shown_as} has no `version = 0.1` line, and sam refuses a samconfig without one: add `version = 0.1` as its first line"
            )
        }
        Ok(config)
    }

    pub fn parse(text: String, shown_as: &str) -> Result<SamConfig> {
        let table: Table = match toml::from_str(&text) {
            Ok(table) => table,
            // toml's message carries the line and column.
            Err(err) => bad_input!("{shown_as} is not valid TOML: {}", one_line(&err.to_string())),
        };
        // sam reads the file only when its top-level version is a number with a fraction.
        let has_version = matches!(table.get("version"), Some(Value::Float(_)));
        let environments = table
            .into_iter()
            .filter_map(|(name, value)| match value {
                Value::Table(env) if env.contains_key("deploy") => Some((name, env)),
                _ => None,
            })
            .collect();
        Ok(SamConfig { text, shown_as: shown_as.to_string(), environments, has_version })
    }

    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }

    /// The named environment; an unknown name is bad input that lists the known ones.
    pub fn environment(&self, name: &str) -> Result<SamEnvironment> {
        self.environment_or(name, None)
    }

    /// Whether the environment's table names its stack.
    pub fn sets_stack_name(&self, name: &str) -> bool {
        self.environment_or(name, None).is_ok()
    }

    /// The environment, with `default_stack_name` when its table names no stack (the
    /// rehearsal's default); without one, a table with no stack_name is bad input.
    pub fn environment_or(&self, name: &str, default_stack_name: Option<&str>) -> Result<SamEnvironment> {
        let shown = &self.shown_as;
        let Some(env) = self.environments.get(name) else {
            let known = self.environment_names();
            bad_input!(
                "unknown environment {name:?}: {shown} defines {} (a [<env>.deploy.parameters] table each)",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        };
        let mut params = Table::new();
        for command in ["global", "deploy"] {
            if let Some(Value::Table(section)) = env.get(command) {
                if let Some(Value::Table(p)) = section.get("parameters") {
                    params.extend(p.clone());
                }
            }
        }
        let string = |key: &str| -> Result<Option<String>> {
            match params.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => {
                    bad_input!("{shown} [{name}.deploy.parameters] {key} must be a string, not {}", other.type_str())
                }
            }
        };
        let Some(stack_name) =
            string("stack_name")?.filter(|s| !s.is_empty()).or_else(|| default_stack_name.map(String::from))
        else {
            bad_input!("environment {name} has no stack_name: add stack_name = \"...\" to [{name}.deploy.parameters] in {shown}")
        };
        let resolve_s3 = match params.get("resolve_s3") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                bad_input!(
                    "{shown} [{name}.deploy.parameters] resolve_s3 must be true or false, not {}",
                    other.type_str()
                )
            }
        };
        let overrides = match params.get("parameter_overrides") {
            None => Vec::new(),
            Some(value) => self.overrides(name, value)?,
        };
        let tags = match params.get("tags") {
            None => Vec::new(),
            Some(value) => {
                let pairs = self.string_or_list(name, "tags", value)?;
                let mut tags = Vec::new();
                for pair in pairs.iter().flat_map(|p| split_pairs(p)) {
                    let Some((key, value)) = pair else {
                        bad_input!("{shown} [{name}.deploy.parameters] tags: expected key=value pairs")
                    };
                    tags.push((key, value));
                }
                tags
            }
        };
        Ok(SamEnvironment {
            name: name.to_string(),
            stack_name,
            region: string("region")?,
            profile: string("profile")?,
            s3_bucket: string("s3_bucket")?,
            resolve_s3,
            overrides,
            tags,
        })
    }

    fn string_or_list(&self, env: &str, key: &str, value: &Value) -> Result<Vec<String>> {
        let shown = &self.shown_as;
        match value {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    let Value::String(s) = item else {
                        bad_input!(
                            "{shown} [{env}.deploy.parameters] {key}: every entry must be a \"Key=Value\" string"
                        )
                    };
                    out.push(s.clone());
                }
                Ok(out)
            }
            other => bad_input!(
                "{shown} [{env}.deploy.parameters] {key} must be a string or a list of strings, not {}",
                other.type_str()
            ),
        }
    }

    fn overrides(&self, env: &str, value: &Value) -> Result<Vec<ParameterOverride>> {
        let shown = &self.shown_as;
        let mut overrides = Vec::new();
        for entry in self.string_or_list(env, "parameter_overrides", value)? {
            for pair in split_pairs(&entry) {
                let Some((key, value)) = pair else {
                    bad_input!(
                        "{shown} [{env}.deploy.parameters] parameter_overrides: {entry:?} is not of the form Key=Value"
                    )
                };
                if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    bad_input!(
                        "{shown} [{env}.deploy.parameters] parameter_overrides: {key:?} is not a CloudFormation parameter name (letters and digits)"
                    )
                }
                let line = self.line_of(env, &key);
                overrides.push(ParameterOverride { key, value, line });
            }
        }
        Ok(overrides)
    }

    /// The line of `Key=` in the environment's deploy table, for findings that point at it.
    fn line_of(&self, env: &str, key: &str) -> Option<u32> {
        let header = format!("[{env}.deploy.parameters]");
        let lines: Vec<&str> = self.text.lines().collect();
        let start = lines.iter().position(|l| l.trim() == header)?;
        let needle = format!("{key}=");
        lines[start + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with('['))
            .position(|l| {
                l.match_indices(&needle).any(|(i, _)| {
                    i == 0 || !l.as_bytes()[i - 1].is_ascii_alphanumeric() // not the tail of a longer key
                })
            })
            .map(|offset| (start + 1 + offset + 1) as u32)
    }
}

/// Splits `A=1 B="x y" C='z'` (sam's space-separated form; also a single `A=1`) into pairs.
/// `None` for a token without `=`. Quotes around a value are removed, as sam does.
pub fn split_pairs(text: &str) -> Vec<Option<(String, String)>> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_token = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_token = true;
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if in_token {
                    tokens.push(std::mem::take(&mut current));
                    in_token = false;
                }
            }
            (None, c) => {
                in_token = true;
                current.push(c);
            }
        }
    }
    if in_token {
        tokens.push(current);
    }
    tokens
        .into_iter()
        .map(|token| {
            let (key, value) = token.split_once('=')?;
            Some((unquote(key), unquote(value)))
        })
        .collect()
}

fn unquote(s: &str) -> String {
    let bytes = s.as_bytes();
    if bytes.len() >= 2 && bytes[0] == bytes[bytes.len() - 1] && matches!(bytes[0], b'"' | b'\'') {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMCONFIG: &str = r#"version = 0.1

[default.global.parameters]
stack_name = "from-global"

[dev.deploy.parameters]
stack_name = "credmate-backend-dev"
region = "us-east-1"
parameter_overrides = [
  "Environment=dev",
  "DatabaseSecretArn=arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/dev/database-Q1w2E3",
  'ExistingSecretsManagerVpcEndpoint=""',
]
tags = "team=platform cost-center=\"42 b\""

[prod.global.parameters]
stack_name = "credmate-backend-prod"

[prod.deploy.parameters]
parameter_overrides = "Environment=prod VpcId=vpc-1"
resolve_s3 = true
"#;

    fn config() -> SamConfig {
        SamConfig::parse(SAMCONFIG.to_string(), "samconfig.toml").unwrap()
    }

    #[test]
    fn environments_are_the_tables_with_a_deploy_section() {
        assert_eq!(config().environment_names(), ["dev", "prod"]);
    }

    #[test]
    fn overrides_carry_their_line() {
        let dev = config().environment("dev").unwrap();
        assert_eq!(dev.stack_name, "credmate-backend-dev");
        let secret = dev.override_value("DatabaseSecretArn").unwrap();
        assert_eq!(secret.line, Some(11));
        assert!(secret.value.ends_with("credmate/dev/database-Q1w2E3"));
        assert_eq!(dev.override_value("ExistingSecretsManagerVpcEndpoint").unwrap().value, "");
        assert_eq!(dev.tags, [("team".into(), "platform".into()), ("cost-center".into(), "42 b".into())]);
    }

    #[test]
    fn global_parameters_are_merged_and_a_string_of_overrides_is_split() {
        let prod = config().environment("prod").unwrap();
        assert_eq!(prod.stack_name, "credmate-backend-prod");
        assert!(prod.resolve_s3);
        assert_eq!(prod.override_value("VpcId").unwrap().value, "vpc-1");
        assert_eq!(prod.override_value("VpcId").unwrap().line, Some(20));
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let err = config().environment("staging").unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("defines dev, prod"), "{err}");
    }

    #[test]
    fn environment_without_a_stack_name_is_bad_input() {
        let config = SamConfig::parse("[qa.deploy.parameters]\nregion = \"us-east-1\"\n".into(), "s.toml").unwrap();
        let err = config.environment("qa").unwrap_err();
        assert!(err.to_string().contains("has no stack_name"), "{err}");
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let err = SamConfig::parse("[dev.deploy.parameters\n".into(), "samconfig.toml").err().unwrap();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn an_override_without_equals_is_bad_input() {
        let text = "[qa.deploy.parameters]\nstack_name = \"s\"\nparameter_overrides = [\"VpcId\"]\n";
        let err = SamConfig::parse(text.into(), "s.toml").unwrap().environment("qa").unwrap_err();
        assert!(err.to_string().contains("not of the form Key=Value"), "{err}");
    }

    #[test]
    fn pairs_split_on_spaces_outside_quotes() {
        let pairs = split_pairs(r#" A=1  B="x y" C='' D"#);
        assert_eq!(
            pairs,
            [Some(("A".into(), "1".into())), Some(("B".into(), "x y".into())), Some(("C".into(), "".into())), None]
        );
    }

    /// A samconfig.toml in the sample's shape (dev, prod, local), the mutations' starting point.
    /// Inline, not `include_str!` of the sample's file: a repository that adopts the xtask has
    /// no infra/lambda/samconfig.toml, and its `cargo test` must still build.
    const REAL_SAMCONFIG: &str = r#"# SAM CLI configuration, one table per environment: `cargo xtask lambda-deploy --env <env>`
# runs `sam deploy --config-env <env>` with these values.
# Secret ARNs follow the path convention credmate/<environment>/<name>: prod's secrets live under
# credmate/production/ (the seed's credmate/prod/ secrets are scheduled for deletion, seed issue 4).
# An empty value must be quoted ('Key=""'): sam refuses a bare `Key=`.
version = 0.1

[default.global.parameters]
stack_name = "credmate-backend-dev"

[default.build.parameters]
cached = true
parallel = true

[dev.deploy.parameters]
stack_name = "credmate-backend-dev"
region = "us-east-1"
capabilities = "CAPABILITY_IAM"
confirm_changeset = false
fail_on_empty_changeset = false
resolve_s3 = true
s3_prefix = "credmate-backend-dev"
parameter_overrides = [
  "Environment=dev",
  "VpcId=vpc-0a1b2c3d4e5f60718",
  "SubnetIds=subnet-0a1b2c3d4e5f60718,subnet-0b1c2d3e4f5a60718",
  "DatabaseSecretArn=arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/dev/database-Q1w2E3",
  "JwtSecretArn=arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/dev/jwt-R4t5Y6",
  'ExistingSecretsManagerVpcEndpoint=""',
]

[prod.deploy.parameters]
stack_name = "credmate-backend-prod"
region = "us-east-1"
capabilities = "CAPABILITY_IAM"
confirm_changeset = false
fail_on_empty_changeset = false
resolve_s3 = true
s3_prefix = "credmate-backend-prod"
parameter_overrides = [
  "Environment=prod",
  "VpcId=vpc-069061f2e220dc500",
  "SubnetIds=subnet-0c1d2e3f4a5b60718,subnet-0d1e2f3a4b5c60718",
  "DatabaseSecretArn=arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/production/database-bFajX7",
  "JwtSecretArn=arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/production/jwt-W9dPlQ",
  'ExistingSecretsManagerVpcEndpoint=""',
]

# A rehearsal against a local AWS emulator (moto): `cargo xtask lambda-deploy --env local`
# starts it, creates the VPC, subnets, secrets and bucket named here, and deploys into it.
[local.deploy.parameters]
stack_name = "credmate-backend-local"
region = "us-east-1"
capabilities = "CAPABILITY_IAM"
confirm_changeset = false
fail_on_empty_changeset = false
s3_bucket = "credmate-sam-artifacts-local"
s3_prefix = "credmate-backend-local"
parameter_overrides = [
  "Environment=local",
  "DatabaseSecretArn=credmate/local/database",
  "JwtSecretArn=credmate/local/jwt",
]
"#;

    /// Bad input (exit 2) on one line: what `exit::finish` prints for a samconfig error.
    fn assert_one_line_bad_input(err: &anyhow::Error) -> Result<(), proptest::test_runner::TestCaseError> {
        proptest::prop_assert_eq!(crate::sys::exit::status_of(err), crate::sys::exit::BAD_INPUT, "{:#}", err);
        let shown = format!("{err:#}");
        proptest::prop_assert!(!shown.contains(['\n', '\r']), "not one line: {}", shown);
        Ok(())
    }

    /// Parses `text` and reads every environment it defines, and `asked` (maybe unknown):
    /// each step either succeeds or is one line of bad input.
    fn read_everything(text: &str, asked: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let config = match SamConfig::parse(text.to_string(), "infra/lambda/samconfig.toml") {
            Ok(config) => config,
            Err(err) => return assert_one_line_bad_input(&err),
        };
        let mut names: Vec<String> = config.environment_names().into_iter().map(String::from).collect();
        names.push(asked.to_string());
        for name in &names {
            match config.environment(name) {
                Ok(env) => {
                    for o in &env.overrides {
                        let _ = config.line_of(name, &o.key);
                    }
                }
                Err(err) => assert_one_line_bad_input(&err)?,
            }
        }
        Ok(())
    }

    /// Any TOML value a samconfig key could be given: strings (with quotes, `=`, spaces and
    /// line breaks), numbers, booleans, dates' stand-ins and lists of them.
    fn toml_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            "(\\PC|\n| |=|'|\")*".prop_map(Value::String),
            "[A-Za-z][A-Za-z0-9]{0,8}=(\\PC| |'|\"){0,12}".prop_map(Value::String),
            any::<i64>().prop_map(Value::Integer),
            any::<bool>().prop_map(Value::Boolean),
            any::<f64>().prop_map(Value::Float),
        ];
        leaf.prop_recursive(2, 12, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..3)
                    .prop_map(|m| Value::Table(m.into_iter().collect())),
            ]
        })
    }

    /// The keys the xtask reads, plus any other.
    fn parameter_key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::sample::select(vec![
                "stack_name",
                "region",
                "profile",
                "s3_bucket",
                "resolve_s3",
                "parameter_overrides",
                "tags",
            ])
            .prop_map(String::from),
            "\\PC{1,10}",
        ]
    }

    proptest::proptest! {

        /// Arbitrary text: bad input on one line, never a panic.
        #[test]
        fn arbitrary_text_is_read_or_refused_on_one_line(text in "(\\PC|\n|\t){0,400}", asked in "\\PC{0,10}") {
            read_everything(&text, &asked)?;
        }

        /// The real samconfig.toml with a piece cut out and arbitrary text put in its place.
        #[test]
        fn a_mangled_real_samconfig_is_read_or_refused_on_one_line(
            at in proptest::prelude::any::<proptest::sample::Index>(),
            cut in 0usize..40,
            insert in "([ -~]|\n|\\PC){0,16}",
            asked in proptest::sample::select(vec!["dev", "prod", "local", "staging"]),
        ) {
            let mut text = REAL_SAMCONFIG.to_string();
            let start = at.index(text.len());
            let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let end = (start + cut..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
            text.replace_range(start..end, &insert);
            read_everything(&text, asked)?;
        }

        /// Environments built as TOML from arbitrary names, keys and values of any type: each
        /// is read, with its stack_name and region as given, or refused on one line.
        #[test]
        fn any_environment_table_is_read_as_written_or_refused_on_one_line(
            name in "(\\PC|\n|\\.|\\[|\\]){1,12}",
            parameters in proptest::collection::btree_map(parameter_key(), toml_value(), 0..6),
            global in proptest::collection::btree_map(parameter_key(), toml_value(), 0..3),
        ) {
            let mut env = Table::new();
            env.insert("deploy".into(), Value::Table([("parameters".to_string(), Value::Table(parameters.clone().into_iter().collect()))].into_iter().collect()));
            env.insert("global".into(), Value::Table([("parameters".to_string(), Value::Table(global.clone().into_iter().collect()))].into_iter().collect()));
            let mut document = Table::new();
            document.insert("version".into(), Value::Float(0.1));
            document.insert(name.clone(), Value::Table(env));
            // Only what toml can write is a samconfig anyone could have.
            let Ok(text) = toml::to_string(&document) else { return Ok(()) };
            let config = match SamConfig::parse(text.clone(), "samconfig.toml") {
                Ok(config) => config,
                Err(err) => return assert_one_line_bad_input(&err),
            };
            match config.environment(&name) {
                Ok(read) => {
                    // deploy's parameters override global's, as sam merges them.
                    let given = |key: &str| parameters.get(key).or_else(|| global.get(key));
                    proptest::prop_assert_eq!(Some(&Value::String(read.stack_name.clone())), given("stack_name"), "{}", text);
                    proptest::prop_assert_eq!(read.region.clone().map(Value::String), given("region").cloned());
                }
                Err(err) => assert_one_line_bad_input(&err)?,
            }
        }

        /// `A=1 B=x` pairs without spaces or quotes come back as written.
        #[test]
        fn pairs_come_back_as_written(pairs in proptest::collection::vec(("[A-Za-z0-9]{1,8}", "[^\\s'\"]{0,12}"), 0..6)) {
            let text = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  ");
            let expected: Vec<Option<(String, String)>> = pairs.iter().map(|(k, v)| Some((k.clone(), v.clone()))).collect();
            proptest::prop_assert_eq!(split_pairs(&text), expected);
        }

        #[test]
        fn split_pairs_never_panics(text in "(\\PC|\\s|'|\"|=){0,80}") {
            let _ = split_pairs(&text);
        }
    }

    #[test]
    fn an_environment_name_with_a_line_break_still_gives_one_line() {
        // A quoted TOML key may hold any character; the message quoting it must stay one line.
        let config =
            SamConfig::parse("[\"qa\\nx\".deploy.parameters]\nregion = \"eu-west-1\"\n".into(), "s.toml").unwrap();
        let err = config.environment("qa\nx").unwrap_err();
        assert!(err.to_string().contains("has no stack_name") && !err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn deeply_nested_toml_is_bad_input_not_a_stack_overflow() {
        for text in ["x = ".to_string() + &"[".repeat(100_000), "x = ".to_string() + &"{a = ".repeat(100_000)] {
            let err = SamConfig::parse(text, "samconfig.toml").err().expect("nested 100,000 deep");
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        }
    }
}
