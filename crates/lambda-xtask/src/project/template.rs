//! The parts of the SAM template the xtask needs: each function's CodeUri, Handler, Runtime and
//! Architectures (with `Globals.Function` as the fallback, as SAM does), the parameters with
//! their types, defaults and NoEcho, and the resources' logical ids.
//!
//! CloudFormation's short-form tags (`!Ref`, `!Sub`) are read in their long form (see
//! [`crate::project::cfn_yaml`]), so an environment variable set to `!Ref Table` is known to be one.
//! Intrinsics over parameters with a value (their Default, or an override) are resolved as sam
//! build resolves them (see [`crate::project::intrinsics`]): `Architectures: [!Ref Arch]`
//! with `Default: arm64` is arm64; what cannot be resolved is named as such, never guessed.

use std::path::Path;

use anyhow::{Context, Result};
use yaml_rust2::Yaml;

use crate::project::cfn_yaml;
use crate::project::intrinsics::{self, ParameterValues, Resolver};

use crate::bad_input;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFunction {
    pub logical_id: String,
    pub code_uri: Option<String>,
    /// `module.attribute`, e.g. `handler.handler`.
    pub handler: Option<String>,
    /// e.g. `python3.11`.
    pub runtime: Option<String>,
    /// `x86_64` or `arm64`; SAM's default is x86_64.
    pub architecture: String,
    /// `Zip` (SAM's default) or `Image`.
    pub package_type: String,
    /// `Metadata.BuildMethod`, e.g. `python-uv` or `makefile`.
    pub build_method: Option<String>,
    /// The function's layers: Globals' first, then its own, as SAM merges them.
    pub layers: Vec<LayerRef>,
    /// Its event sources in template order (the smoke test's event follows the first).
    pub events: Vec<EventSource>,
    /// `Environment.Variables`, Globals merged under the function's own.
    pub environment: Vec<(String, EnvValue)>,
    /// `MemorySize` (SAM's default 128).
    pub memory_size: u32,
    /// `InlineCode`: nothing on disk to build or guard.
    pub inline_code: bool,
    /// Handler, Runtime, CodeUri or Architectures written as something that does not resolve
    /// to text (an intrinsic over a resource or a parameter with no value, or CodeUri's
    /// `{Bucket, Key}`): the property and what it is, in short form.
    pub not_text: Vec<(&'static str, String)>,
}

/// A layer a function names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    /// `!Ref MyLayer`: an `AWS::Serverless::LayerVersion` of this template.
    Resource(String),
    /// An ARN (or any other expression): published elsewhere, its content is unknown here.
    External(String),
}

/// One entry of a function's `Events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    pub name: String,
    /// SAM's event type: `Api`, `HttpApi`, `SQS`, `SNS`, `S3`, `Schedule`, `ScheduleV2`,
    /// `EventBridgeRule`, `CloudWatchEvent`, `DynamoDB`, `Kinesis`, ...
    pub kind: String,
    /// `Properties.Path` of an Api/HttpApi event.
    pub path: Option<String>,
    /// `Properties.Method` of an Api/HttpApi event.
    pub method: Option<String>,
}

/// An environment variable's value as the template gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    /// An intrinsic, in its short form: `!Ref Table`, `!GetAtt Queue.Arn`.
    Intrinsic(String),
}

/// An `AWS::Serverless::LayerVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateLayer {
    pub logical_id: String,
    /// `ContentUri` when it is a local path.
    pub content_uri: Option<String>,
    pub compatible_runtimes: Vec<String>,
    /// `CompatibleArchitectures` (SAM's default: x86_64).
    pub architectures: Vec<String>,
    /// `Metadata.BuildMethod`, e.g. `python3.12`; none: sam copies the content as-is.
    pub build_method: Option<String>,
}

impl TemplateFunction {
    /// A function with only a Handler, as tests need one.
    #[cfg(test)]
    pub fn with_handler(handler: impl Into<String>) -> TemplateFunction {
        let parameters = ParameterValues::default();
        let resolver = Resolver { parameters: &parameters, mappings: &Yaml::BadValue, reveal_no_echo: false };
        let mut function = read_function("F", &Yaml::BadValue, &Yaml::BadValue, &resolver);
        function.handler = Some(handler.into());
        function
    }

    /// What a property written as something other than text is, when it is (`!Sub ...`).
    pub fn not_text(&self, property: &str) -> Option<&str> {
        self.not_text.iter().find(|(name, _)| *name == property).map(|(_, what)| what.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateParameter {
    pub name: String,
    pub kind: String,
    pub default: Option<String>,
    /// `NoEcho: true`: the value is a secret, never to be printed.
    pub no_echo: bool,
    /// What CloudFormation accepts as its value.
    pub constraints: ParameterConstraints,
}

/// A parameter's `AllowedValues`, `AllowedPattern`, `MinLength`/`MaxLength` and
/// `MinValue`/`MaxValue`, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParameterConstraints {
    pub allowed_values: Vec<String>,
    pub allowed_pattern: Option<String>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
}

impl Eq for ParameterConstraints {}

impl ParameterConstraints {
    fn read(spec: &Yaml) -> ParameterConstraints {
        let number = |key: &str| scalar(&spec[key]).and_then(|v| v.trim().parse::<f64>().ok());
        let length = |key: &str| number(key).filter(|n| *n >= 0.0).map(|n| n as usize);
        ParameterConstraints {
            allowed_values: match &spec["AllowedValues"] {
                Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
                _ => Vec::new(),
            },
            allowed_pattern: scalar(&spec["AllowedPattern"]),
            min_length: length("MinLength"),
            max_length: length("MaxLength"),
            min_value: number("MinValue"),
            max_value: number("MaxValue"),
        }
    }
}

/// One entry of `Outputs`: its name and its value as written (the text of a `!Sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOutput {
    pub name: String,
    pub value: String,
}

impl TemplateOutput {
    /// An API Gateway URL (`https://${ServerlessRestApi}.execute-api.${AWS::Region}...`).
    pub fn is_api_url(&self) -> bool {
        self.value.contains(".execute-api.")
    }
}

/// An output's value as written: a plain string, the text of a `!Sub` (short or long form, or
/// the first element of its list form), or the `Resource.Attribute` of a `!GetAtt`.
fn output_text(value: &Yaml) -> String {
    if let Some(text) = value.as_str() {
        return text.to_string();
    }
    let sub = &value["Fn::Sub"];
    if let Some(text) = sub.as_str().or_else(|| sub[0].as_str()) {
        return text.to_string();
    }
    match &value["Fn::GetAtt"] {
        Yaml::String(text) => text.clone(),
        Yaml::Array(parts) => parts.iter().filter_map(Yaml::as_str).collect::<Vec<_>>().join("."),
        _ => String::new(),
    }
}

#[derive(Debug)]
pub struct Template {
    pub functions: Vec<TemplateFunction>,
    pub layers: Vec<TemplateLayer>,
    pub parameters: Vec<TemplateParameter>,
    /// Every resource's logical id and type.
    pub resources: Vec<(String, String)>,
    pub outputs: Vec<TemplateOutput>,
    /// A function (or `Globals.Function`) has a `VpcConfig`: the stack needs a VPC.
    pub uses_vpc: bool,
    /// The overrides this reading applied that change what sam builds: parameters named in a
    /// function's or layer's Runtime, Architectures, Handler, CodeUri, Layers or ContentUri
    /// (or Globals'), whose value differs from their Default. sam build gets them too.
    pub build_overrides: Vec<(String, String)>,
    /// Parameters a resource uses as a VPC, subnet or security group id (a `Ref` in its
    /// `VpcId`, `Subnets`, `SubnetIds` or `SecurityGroupIds`, `VpcConfig`'s among them),
    /// whatever Type they declare, with the AWS type that use means
    /// (`List<AWS::EC2::Subnet::Id>` for a comma list): a `Type: String` with a placeholder
    /// Default (`VPC_ID`, `subnet-1,subnet-2`) is as much a VPC parameter as a typed one.
    pub network_uses: Vec<(String, String)>,
}

impl Template {
    /// The template with its parameters' Defaults.
    pub fn load(path: &Path, shown_as: &str) -> Result<Template> {
        Template::load_with(path, shown_as, &[])
    }

    /// The template with `overrides` (`Key`, `Value`) on top of its parameters' Defaults.
    pub fn load_with(path: &Path, shown_as: &str, overrides: &[(String, String)]) -> Result<Template> {
        let text = read_text(path, shown_as)?;
        Template::parse_with(&text, shown_as, overrides)
    }

    /// The template as plain `sam build` reads it in this project: the parameter overrides of
    /// samconfig.toml's `default` environment for `build` (or `global`), which sam build
    /// applies, on top of the Defaults.
    pub fn load_for_build(project: &crate::project::config::Project) -> Result<Template> {
        let overrides = crate::project::samconfig::build_overrides(project)?;
        Template::load_with(&project.template_path(), &project.config.template.display().to_string(), &overrides)
    }

    /// The template as a deploy to `env` resolves it: the environment's parameter overrides
    /// on top of the Defaults (sam build is then given those that decide what it builds).
    pub fn load_for_environment(
        path: &Path,
        shown_as: &str,
        env: &crate::project::samconfig::SamEnvironment,
    ) -> Result<Template> {
        let overrides: Vec<(String, String)> = env.overrides.iter().map(|o| (o.key.clone(), o.value.clone())).collect();
        Template::load_with(path, shown_as, &overrides)
    }

    pub fn parse(text: &str, shown_as: &str) -> Result<Template> {
        Template::parse_with(text, shown_as, &[])
    }

    pub fn parse_with(text: &str, shown_as: &str, overrides: &[(String, String)]) -> Result<Template> {
        let doc = load_document(text, shown_as)?;
        let parameter_values = ParameterValues::new(&doc["Parameters"], overrides);
        let resolver = Resolver { parameters: &parameter_values, mappings: &doc["Mappings"], reveal_no_echo: true };
        let globals = &doc["Globals"]["Function"];
        let Yaml::Hash(resources) = &doc["Resources"] else {
            bad_input!("SAM template {shown_as} has no Resources section")
        };
        let mut functions = Vec::new();
        let mut layers = Vec::new();
        for (id, resource) in resources {
            let Some(logical_id) = id.as_str() else {
                continue;
            };
            let props = &resource["Properties"];
            match resource["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    functions.push(read_function(logical_id, resource, globals, &resolver))
                }
                Some("AWS::Serverless::LayerVersion") => layers.push(TemplateLayer {
                    logical_id: logical_id.to_string(),
                    content_uri: resolver.text(&props["ContentUri"]),
                    compatible_runtimes: strings(
                        &resolver.resolve(&props["CompatibleRuntimes"]).unwrap_or(Yaml::BadValue),
                    ),
                    architectures: strings(
                        &resolver.resolve(&props["CompatibleArchitectures"]).unwrap_or(Yaml::BadValue),
                    ),
                    build_method: resource["Metadata"]["BuildMethod"].as_str().map(String::from),
                }),
                _ => {}
            }
        }
        let mut parameters = Vec::new();
        if let Yaml::Hash(params) = &doc["Parameters"] {
            for (name, spec) in params {
                let Some(name) = name.as_str() else { continue };
                parameters.push(TemplateParameter {
                    name: name.to_string(),
                    kind: spec["Type"].as_str().unwrap_or("String").to_string(),
                    default: scalar(&spec["Default"]),
                    no_echo: scalar(&spec["NoEcho"]).is_some_and(|v| v.eq_ignore_ascii_case("true")),
                    constraints: ParameterConstraints::read(spec),
                });
            }
        }
        let uses_vpc = !globals["VpcConfig"].is_badvalue()
            || resources.iter().any(|(_, r)| {
                r["Type"].as_str() == Some("AWS::Serverless::Function") && !r["Properties"]["VpcConfig"].is_badvalue()
            });
        let resources = resources
            .iter()
            .filter_map(|(id, resource)| {
                Some((id.as_str()?.to_string(), resource["Type"].as_str().unwrap_or_default().to_string()))
            })
            .collect();
        let outputs = match &doc["Outputs"] {
            Yaml::Hash(outputs) => outputs
                .iter()
                .filter_map(|(name, output)| {
                    Some(TemplateOutput { name: name.as_str()?.to_string(), value: output_text(&output["Value"]) })
                })
                .collect(),
            _ => Vec::new(),
        };
        let build_overrides = build_overrides(&doc, &parameter_values, overrides);
        let network_uses = network_uses(&doc, &parameters);
        Ok(Template { functions, layers, parameters, resources, outputs, uses_vpc, build_overrides, network_uses })
    }

    /// The parameter's type as the rehearsal treats it: its declared Type, or, for a plain
    /// `String` or `CommaDelimitedList` a resource uses as a VPC, subnet or security group id,
    /// the AWS type of that use (see [`Template::network_uses`]).
    pub fn parameter_kind<'a>(&'a self, param: &'a TemplateParameter) -> &'a str {
        let plain = matches!(param.kind.as_str(), "String" | "CommaDelimitedList");
        match self.network_uses.iter().find(|(name, _)| *name == param.name) {
            Some((_, kind)) if plain => kind,
            _ => &param.kind,
        }
    }

    pub fn parameter(&self, name: &str) -> Option<&TemplateParameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    pub fn parameter_of_type(&self, kind: &str) -> Option<&TemplateParameter> {
        self.parameters.iter().find(|p| p.kind == kind)
    }

    pub fn has_resource(&self, logical_id: &str) -> bool {
        self.resources.iter().any(|(id, _)| id == logical_id)
    }

    pub fn function(&self, logical_id: &str) -> Option<&TemplateFunction> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    pub fn layer(&self, logical_id: &str) -> Option<&TemplateLayer> {
        self.layers.iter().find(|l| l.logical_id == logical_id)
    }
}

/// The properties whose value is a VPC, subnet or security group id (or a list of them), and
/// the AWS type of one item.
const NETWORK_PROPERTIES: [(&str, &str); 6] = [
    ("VpcId", "AWS::EC2::VPC::Id"),
    ("SubnetId", "AWS::EC2::Subnet::Id"),
    ("Subnets", "AWS::EC2::Subnet::Id"),
    ("SubnetIds", "AWS::EC2::Subnet::Id"),
    ("SecurityGroupId", "AWS::EC2::SecurityGroup::Id"),
    ("SecurityGroupIds", "AWS::EC2::SecurityGroup::Id"),
];

/// Each parameter a resource's (or `Globals`') network property refers to with `Ref`, with
/// the AWS type of that use: a list (`List<...>`) when the parameter is a
/// `CommaDelimitedList`, is split (`Fn::Split`), or holds a comma in its Default.
fn network_uses(doc: &Yaml, parameters: &[TemplateParameter]) -> Vec<(String, String)> {
    fn walk(node: &Yaml, property: Option<(&'static str, bool)>, found: &mut Vec<(String, &'static str, bool)>) {
        match node {
            Yaml::Hash(map) => {
                for (key, value) in map {
                    let Some(key) = key.as_str() else { continue };
                    match (key, property) {
                        ("Ref", Some((kind, split))) => {
                            if let Some(name) = value.as_str() {
                                found.push((name.to_string(), kind, split));
                            }
                        }
                        ("Fn::Split", Some((kind, _))) => walk(value, Some((kind, true)), found),
                        _ => {
                            let inner = NETWORK_PROPERTIES
                                .iter()
                                .find(|(name, _)| *name == key)
                                .map(|(_, kind)| (*kind, false))
                                .or(property.filter(|_| cfn_yaml::is_intrinsic(node)));
                            walk(value, inner, found)
                        }
                    }
                }
            }
            Yaml::Array(items) => items.iter().for_each(|item| walk(item, property, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&doc["Resources"], None, &mut found);
    walk(&doc["Globals"], None, &mut found);
    let mut uses: Vec<(String, String)> = Vec::new();
    for (name, kind, split) in found {
        let Some(param) = parameters.iter().find(|p| p.name == name) else { continue };
        if uses.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let list = split
            || param.kind.starts_with("List<")
            || param.kind == "CommaDelimitedList"
            || param.default.as_deref().is_some_and(|d| d.contains(','));
        uses.push((name, if list { format!("List<{kind}>") } else { kind.to_string() }));
    }
    uses
}

/// The template's text; not found or not UTF-8 (sam reads it as UTF-8 and fails) is bad input.
pub fn read_text(path: &Path, shown_as: &str) -> Result<String> {
    let bytes = match crate::sys::beneath::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            bad_input!("SAM template {shown_as} not found: create it or fix `template` in [workspace.metadata.lambda]")
        }
        Err(err) => return Err(err).with_context(|| format!("reading {shown_as}")),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.as_bytes();
            let line = bytes[..valid].iter().filter(|b| **b == b'\n').count() + 1;
            let column = valid - bytes[..valid].iter().rposition(|b| *b == b'\n').map_or(0, |at| at + 1) + 1;
            bad_input!(
                "SAM template {shown_as}:{line}:{column}: byte 0x{:02x} is not UTF-8, and sam reads templates as UTF-8: save the file as UTF-8",
                bytes[valid]
            )
        }
    }
}

/// The template's one YAML (or JSON) document, as SAM reads it: within the node budget, valid,
/// one document, not empty; bad input otherwise.
pub fn load_document(text: &str, shown_as: &str) -> Result<Yaml> {
    use crate::project::yaml_budget::{self, MAX_NODES};
    match yaml_budget::check(text, MAX_NODES) {
        Err(over) if over.through_aliases => bad_input!(
            "SAM template {shown_as} expands to more than {MAX_NODES} YAML nodes through its aliases (at least {}): remove the nested aliases (&anchor / *alias)",
            over.expanded
        ),
        Err(over) => bad_input!(
            "SAM template {shown_as} has more than {MAX_NODES} YAML nodes (at least {}), far beyond the 1 MB CloudFormation accepts: split it into nested stacks",
            over.expanded
        ),
        Ok(()) => {}
    }
    match cfn_yaml::load(text) {
        Ok(Yaml::Null) => bad_input!("SAM template {shown_as} is empty"),
        Ok(doc) => Ok(doc),
        Err(err) => bad_input!("SAM template {shown_as} is not valid YAML: {err}"),
    }
}

/// One `AWS::Serverless::Function`, with `Globals.Function` as the fallback of each property
/// the way SAM applies it: scalars replaced, `Environment.Variables` merged, `Layers` prepended;
/// intrinsics over parameters with a value resolved.
fn read_function(logical_id: &str, resource: &Yaml, globals: &Yaml, resolver: &Resolver) -> TemplateFunction {
    let props = &resource["Properties"];
    // The function's own value, else Globals'.
    let value = |name: &str| match &props[name] {
        Yaml::BadValue | Yaml::Null => &globals[name],
        own => own,
    };
    let field = |name: &str| resolver.text(value(name));
    let mut not_text: Vec<(&'static str, String)> = ["Handler", "Runtime", "CodeUri"]
        .into_iter()
        .filter(|name| field(name).is_none())
        .filter_map(|name| Some((name, not_text(value(name))?)))
        .collect();
    let architecture = match value("Architectures") {
        Yaml::BadValue | Yaml::Null => "x86_64".to_string(),
        written => match resolver.resolve(written) {
            Some(Yaml::Array(list)) if list.first().and_then(Yaml::as_str).is_some() => {
                list[0].as_str().unwrap_or_default().to_string()
            }
            _ => {
                // sam build fails on it too ("Architecture Arch is not supported"): never a
                // silent x86_64.
                not_text.push(("Architectures", cfn_yaml::describe(written)));
                "x86_64".to_string()
            }
        },
    };
    let layers = function_layers(props, globals, resolver);
    let environment = environment(props, globals, resolver);
    let mut events = Vec::new();
    if let Yaml::Hash(list) = &props["Events"] {
        for (name, event) in list {
            let Some(kind) = event["Type"].as_str() else { continue };
            let event_props = &event["Properties"];
            events.push(EventSource {
                name: name.as_str().unwrap_or_default().to_string(),
                kind: kind.to_string(),
                path: event_props["Path"].as_str().map(String::from),
                method: event_props["Method"].as_str().map(String::from),
            });
        }
    }
    let memory_size = props["MemorySize"]
        .as_i64()
        .or_else(|| globals["MemorySize"].as_i64())
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(128);
    TemplateFunction {
        logical_id: logical_id.to_string(),
        code_uri: field("CodeUri"),
        handler: field("Handler"),
        runtime: field("Runtime"),
        architecture,
        package_type: field("PackageType").unwrap_or_else(|| "Zip".to_string()),
        build_method: resource["Metadata"]["BuildMethod"].as_str().map(String::from),
        layers,
        events,
        environment,
        memory_size,
        inline_code: !props["InlineCode"].is_badvalue() || !globals["InlineCode"].is_badvalue(),
        not_text,
    }
}

/// `Environment.Variables`, Globals' merged under the function's own. An intrinsic over
/// parameters with a value is that value (what the deployed function gets); a NoEcho
/// parameter's value is never put here, and anything else stays an intrinsic.
fn environment(props: &Yaml, globals: &Yaml, resolver: &Resolver) -> Vec<(String, EnvValue)> {
    let secretless = Resolver { reveal_no_echo: false, ..*resolver };
    let mut environment: Vec<(String, EnvValue)> = Vec::new();
    for variables in [&globals["Environment"]["Variables"], &props["Environment"]["Variables"]] {
        let Yaml::Hash(variables) = variables else { continue };
        for (name, value) in variables {
            let Some(name) = name.as_str() else { continue };
            let value = if cfn_yaml::is_intrinsic(value) {
                match secretless.text(value) {
                    Some(text) => EnvValue::Plain(text),
                    None => EnvValue::Intrinsic(cfn_yaml::describe(value)),
                }
            } else {
                EnvValue::Plain(cfn_yaml::describe(value))
            };
            match environment.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = value,
                None => environment.push((name.to_string(), value)),
            }
        }
    }
    environment
}

/// The overrides that change what sam builds: of parameters named in the build properties of
/// a function or layer (or `Globals.Function`), whose value differs from the Default.
fn build_overrides(doc: &Yaml, values: &ParameterValues, overrides: &[(String, String)]) -> Vec<(String, String)> {
    const FUNCTION: [&str; 7] =
        ["CodeUri", "Handler", "Runtime", "Architectures", "Layers", "PackageType", "InlineCode"];
    const LAYER: [&str; 3] = ["ContentUri", "CompatibleRuntimes", "CompatibleArchitectures"];
    let mut named = Vec::new();
    for property in FUNCTION {
        intrinsics::referenced_parameters(&doc["Globals"]["Function"][property], values, &mut named);
    }
    if let Yaml::Hash(resources) = &doc["Resources"] {
        for resource in resources.values() {
            let properties: &[&str] = match resource["Type"].as_str() {
                Some("AWS::Serverless::Function") => &FUNCTION,
                Some("AWS::Serverless::LayerVersion") => &LAYER,
                _ => continue,
            };
            for property in properties {
                intrinsics::referenced_parameters(&resource["Properties"][*property], values, &mut named);
            }
            intrinsics::referenced_parameters(&resource["Metadata"], values, &mut named);
        }
    }
    named.sort();
    named.dedup();
    named
        .into_iter()
        .filter_map(|name| {
            let (_, value) = overrides.iter().rev().find(|(key, _)| *key == name)?;
            let default = scalar(&doc["Parameters"][name.as_str()]["Default"]);
            (default.as_deref() != Some(value.as_str())).then(|| (name.clone(), value.clone()))
        })
        .collect()
}

/// The text items of a list; nothing for anything else.
fn strings(list: &Yaml) -> Vec<String> {
    match list {
        Yaml::Array(items) => items.iter().filter_map(Yaml::as_str).map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// A function's layers: Globals' first, then its own, each once, as SAM merges them. A
/// `!Ref` to a parameter is the layer ARN it holds (or the expression, when it has no value).
fn function_layers(props: &Yaml, globals: &Yaml, resolver: &Resolver) -> Vec<LayerRef> {
    let mut layers = Vec::new();
    for list in [&globals["Layers"], &props["Layers"]] {
        let Yaml::Array(items) = list else { continue };
        for item in items {
            let layer = match item["Ref"].as_str() {
                Some(id) if !resolver.parameters.is_declared(id) => LayerRef::Resource(id.to_string()),
                _ => LayerRef::External(resolver.text(item).unwrap_or_else(|| cfn_yaml::describe(item))),
            };
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
    }
    layers
}

/// What a property is when it is not text: an intrinsic in its short form (`!Sub ...`), or a
/// mapping by its keys (`{Bucket, Key}`); `None` for text or nothing.
fn not_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::BadValue | Yaml::Null | Yaml::String(_) => None,
        Yaml::Hash(hash) if !cfn_yaml::is_intrinsic(value) => {
            let keys: Vec<&str> = hash.keys().filter_map(Yaml::as_str).collect();
            Some(format!("{{{}}}", keys.join(", ")))
        }
        other => Some(cfn_yaml::describe(other)),
    }
}

/// A YAML scalar as CloudFormation reads it: `1`, `true` and `""` are all strings to it.
fn scalar(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Array(items) => Some(items.iter().filter_map(scalar).collect::<Vec<_>>().join(",")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corpus template (an Outputs block scalar last, no final newline) ended the run with
    /// a panic of the YAML scanner (exit 101); sam reads it.
    #[test]
    fn a_template_ending_inside_a_block_scalar_without_a_newline_loads() {
        let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn/\n      Handler: app.handler\n      Runtime: python3.12\nOutputs:\n  Note:\n    Value: |\n      hello";
        let template = Template::parse(text, "template.yaml").unwrap();
        assert_eq!(template.functions.len(), 1);
    }

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  ExistingSecretsManagerVpcEndpoint:
    Type: String
Globals:
  Function:
    Runtime: python3.11
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      VpcId: !Ref VpcId
  BackendFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/backend/
      Handler: handler.handler
      Architectures: [arm64]
      FunctionName: !Sub credmate-${Environment}
"#;

    #[test]
    fn reads_functions_with_globals_and_tags() {
        let template = Template::parse(TEMPLATE, "t.yaml").unwrap();
        let f = template.function("BackendFunction").unwrap();
        assert_eq!(f.runtime.as_deref(), Some("python3.11"));
        assert_eq!(f.code_uri.as_deref(), Some("functions/backend/"));
        assert_eq!(f.architecture, "arm64");
        assert_eq!(f.handler.as_deref(), Some("handler.handler"));
        assert_eq!(template.functions.len(), 1);
        assert!(!template.uses_vpc);
    }

    #[test]
    fn reads_outputs_and_vpc_config() {
        let text = "Globals:\n  Function:\n    VpcConfig:\n      SubnetIds: !Ref SubnetIds\nResources: {}\nOutputs:\n  HelloWorldApi:\n    Value: !Sub \"https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/\"\n  Long:\n    Value:\n      Fn::Sub: https://${Api}.execute-api.${AWS::Region}.amazonaws.com\n  Arn:\n    Value: !GetAtt HelloWorldFunction.Arn\n";
        let template = Template::parse(text, "t.yaml").unwrap();
        assert!(template.uses_vpc);
        let api: Vec<&str> = template.outputs.iter().filter(|o| o.is_api_url()).map(|o| o.name.as_str()).collect();
        assert_eq!(api, ["HelloWorldApi", "Long"]);
        assert_eq!(template.outputs[2].value, "HelloWorldFunction.Arn");
    }

    const PARAMETERS: &str = r#"
Parameters:
  Arch: {Type: String, Default: arm64}
  Stage: {Type: String, Default: dev}
  Token: {Type: String, Default: s3cr3t, NoEcho: true}
  LayerArn: {Type: String, Default: "arn:aws:lambda:us-east-1:1:layer:x:1"}
Globals:
  Function:
    Architectures: [!Ref Arch]
    Environment:
      Variables: {STAGE: !Ref Stage, TOKEN: !Ref Token, QUEUE: !GetAtt Queue.Arn}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.11, Layers: [!Ref LayerArn, !Ref Local]}
"#;

    #[test]
    fn parameters_resolve_in_build_properties_and_the_environment_but_no_echo_stays_hidden() {
        let template = Template::parse(PARAMETERS, "t.yaml").unwrap();
        let f = template.function("F").unwrap();
        assert_eq!(f.architecture, "arm64");
        assert_eq!(
            f.layers,
            [LayerRef::External("arn:aws:lambda:us-east-1:1:layer:x:1".into()), LayerRef::Resource("Local".into())]
        );
        let env = |name: &str| f.environment.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(env("STAGE"), EnvValue::Plain("dev".into()));
        assert_eq!(env("TOKEN"), EnvValue::Intrinsic("!Ref Token".into()));
        assert_eq!(env("QUEUE"), EnvValue::Intrinsic("!GetAtt Queue.Arn".into()));
        assert!(template.build_overrides.is_empty());
    }

    #[test]
    fn only_overrides_that_change_the_build_are_build_overrides() {
        let overrides = [("Arch".to_string(), "x86_64".to_string()), ("Stage".to_string(), "prod".to_string())];
        let template = Template::parse_with(PARAMETERS, "t.yaml", &overrides).unwrap();
        assert_eq!(template.function("F").unwrap().architecture, "x86_64");
        assert_eq!(template.build_overrides, [("Arch".to_string(), "x86_64".to_string())]);
        let same = [("Arch".to_string(), "arm64".to_string())];
        assert!(Template::parse_with(PARAMETERS, "t.yaml", &same).unwrap().build_overrides.is_empty());
    }

    proptest::proptest! {
        /// Arbitrary text, and arbitrary edits of a real template: an error, never a panic.
        #[test]
        fn parse_never_panics(text in ".{0,400}") {
            let _ = Template::parse(&text, "t.yaml");
        }

        #[test]
        fn parse_of_a_mangled_template_never_panics(cut in 0usize..600, insert in "[ -~\n\t]{0,12}") {
            let mut text = TEMPLATE.to_string();
            let cut = text.char_indices().map(|(i, _)| i).nth(cut % TEMPLATE.len()).unwrap_or(0);
            text.insert_str(cut, &insert);
            let _ = Template::parse(&text, "t.yaml");
        }
    }

    #[test]
    fn invalid_yaml_is_bad_input() {
        let err = Template::parse("Resources: [unclosed", "t.yaml").unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
    }
}
