//! The parts of the SAM template the xtask needs: each function's CodeUri, Handler, Runtime and
//! Architectures (with `Globals.Function` as the fallback, as SAM does), the parameters with
//! their types, defaults and NoEcho, and the resources' logical ids.
//!
//! CloudFormation's short-form tags (`!Ref`, `!Sub`) are read in their long form (see
//! [`crate::project::cfn_yaml`]), so an environment variable set to `!Ref Table` is known to be one.

use std::path::Path;

use anyhow::{Context, Result};
use yaml_rust2::Yaml;

use crate::project::cfn_yaml;

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
    /// `Metadata.BuildMethod`, e.g. `python3.12`; none: sam copies the content as-is.
    pub build_method: Option<String>,
}

impl TemplateFunction {
    /// A function with only a Handler, as tests need one.
    #[cfg(test)]
    pub fn with_handler(handler: impl Into<String>) -> TemplateFunction {
        let mut function = read_function("F", &Yaml::BadValue, &Yaml::BadValue);
        function.handler = Some(handler.into());
        function
    }

    /// The module file the handler names, e.g. `handler.py` for `handler.handler`, and the
    /// attribute. `None` when the Handler is not of the form `module.attribute`.
    pub fn handler_parts(&self) -> Option<(String, String)> {
        let handler = self.handler.as_deref()?;
        let (module, attribute) = handler.rsplit_once('.')?;
        let valid = |s: &str| !s.is_empty() && s.split('.').all(is_python_identifier);
        if !valid(module) || !is_python_identifier(attribute) {
            return None;
        }
        Some((module.replace('.', "/") + ".py", attribute.to_string()))
    }
}

pub fn is_python_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
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
}

impl Template {
    pub fn load(path: &Path, shown_as: &str) -> Result<Template> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                bad_input!(
                    "SAM template {shown_as} not found: create it or fix `template` in [workspace.metadata.lambda]"
                )
            }
            Err(err) => return Err(err).with_context(|| format!("reading {shown_as}")),
        };
        Template::parse(&text, shown_as)
    }

    pub fn parse(text: &str, shown_as: &str) -> Result<Template> {
        if let Err(expanded) = crate::project::yaml_budget::check(text, crate::project::yaml_budget::MAX_NODES) {
            bad_input!(
                "SAM template {shown_as} expands to more than {} YAML nodes through its aliases (at least {expanded}): remove the nested aliases (&anchor / *alias)",
                crate::project::yaml_budget::MAX_NODES
            )
        }
        let docs = match cfn_yaml::load(text) {
            Ok(docs) => docs,
            Err(err) => bad_input!("SAM template {shown_as} is not valid YAML: {err}"),
        };
        let Some(doc) = docs.into_iter().next() else { bad_input!("SAM template {shown_as} is empty") };
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
                Some("AWS::Serverless::Function") => functions.push(read_function(logical_id, resource, globals)),
                Some("AWS::Serverless::LayerVersion") => layers.push(TemplateLayer {
                    logical_id: logical_id.to_string(),
                    content_uri: props["ContentUri"].as_str().map(String::from),
                    compatible_runtimes: match &props["CompatibleRuntimes"] {
                        Yaml::Array(items) => items.iter().filter_map(Yaml::as_str).map(String::from).collect(),
                        _ => Vec::new(),
                    },
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
        Ok(Template { functions, layers, parameters, resources, outputs, uses_vpc })
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

/// One `AWS::Serverless::Function`, with `Globals.Function` as the fallback of each property
/// the way SAM applies it: scalars replaced, `Environment.Variables` merged, `Layers` prepended.
fn read_function(logical_id: &str, resource: &Yaml, globals: &Yaml) -> TemplateFunction {
    let props = &resource["Properties"];
    let field = |name: &str| props[name].as_str().or_else(|| globals[name].as_str()).map(String::from);
    let architecture = match (&props["Architectures"], &globals["Architectures"]) {
        (Yaml::Array(list), _) | (_, Yaml::Array(list)) => {
            list.first().and_then(Yaml::as_str).unwrap_or("x86_64").to_string()
        }
        _ => "x86_64".to_string(),
    };
    let mut layers = Vec::new();
    for list in [&globals["Layers"], &props["Layers"]] {
        if let Yaml::Array(items) = list {
            for item in items {
                let layer = match item["Ref"].as_str() {
                    Some(id) => LayerRef::Resource(id.to_string()),
                    None => LayerRef::External(cfn_yaml::describe(item)),
                };
                if !layers.contains(&layer) {
                    layers.push(layer);
                }
            }
        }
    }
    let mut environment: Vec<(String, EnvValue)> = Vec::new();
    for variables in [&globals["Environment"]["Variables"], &props["Environment"]["Variables"]] {
        let Yaml::Hash(variables) = variables else { continue };
        for (name, value) in variables {
            let Some(name) = name.as_str() else { continue };
            let value = if cfn_yaml::is_intrinsic(value) {
                EnvValue::Intrinsic(cfn_yaml::describe(value))
            } else {
                EnvValue::Plain(cfn_yaml::describe(value))
            };
            match environment.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = value,
                None => environment.push((name.to_string(), value)),
            }
        }
    }
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
        assert_eq!(f.handler_parts(), Some(("handler.py".into(), "handler".into())));
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

    #[test]
    fn dotted_handler_module_maps_to_a_path() {
        let f = TemplateFunction::with_handler("app.main.handler");
        assert_eq!(f.handler_parts(), Some(("app/main.py".into(), "handler".into())));
    }

    #[test]
    fn malformed_handlers_are_rejected() {
        for bad in ["handler", "handler.", ".handler", "my-module.handler", "handler.1x", "a..b"] {
            let f = TemplateFunction::with_handler(bad);
            assert_eq!(f.handler_parts(), None, "{bad}");
        }
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
            if let Ok(template) = Template::parse(&text, "t.yaml") {
                for f in &template.functions {
                    let _ = f.handler_parts();
                }
            }
        }

        #[test]
        fn handler_parts_never_panic(handler in "\\PC{0,40}") {
            let f = TemplateFunction::with_handler(handler);
            let _ = f.handler_parts();
        }
    }

    #[test]
    fn invalid_yaml_is_bad_input() {
        let err = Template::parse("Resources: [unclosed", "t.yaml").unwrap_err();
        assert_eq!(crate::run::exit::status_of(&err), crate::run::exit::BAD_INPUT);
    }
}
