//! The template sam builds from when the user's would not build as it is here: a copy, never
//! the user's file, written as JSON (which CloudFormation and SAM read as they read YAML) into
//! `.aws-sam/xtask/`, a directory sam owns; sam is pointed at the template's own directory with
//! `--base-dir` so every relative CodeUri still resolves as in the original. It changes:
//! - `Metadata.BuildMethod: python-uv` on the functions whose runtime has no interpreter here
//!   (and no Docker);
//! - the CodeUri of a function whose dir holds the xtask's own files, to its staged copy;
//! - the ContentUri of a layer the xtask built with uv, to that build, without BuildMethod;
//! - every relative path SAM CLI resolves against the template's directory, as its own
//!   `move_template` rewrites them when it writes a template elsewhere
//!   (samcli/commands/_utils/template.py, over `RESOURCES_WITH_LOCAL_PATHS` of
//!   samcli/lib/utils/resources.py): what sam builds from becomes absolute (it resolves the
//!   same under `--base-dir`, and the built template points at the build output anyway), and
//!   what sam only uploads (a state machine's DefinitionUri, an OpenAPI file, an unbuilt
//!   layer, a zip, an `AWS::Include`) becomes relative to `.aws-sam/xtask/`, so the built
//!   template names the same files plain `sam build` would (`../../statemachine/...`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use yaml_rust2::Yaml;

use crate::bad_input;

/// What the derived template changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Derivation {
    /// Functions built with SAM's python-uv build method.
    pub uv_functions: Vec<String>,
    /// Functions whose CodeUri is replaced: logical id and CodeUri, relative to the template's dir.
    pub code_uris: Vec<(String, String)>,
    /// Layers the xtask built itself (see [`crate::build::uv_layer`]): logical id and
    /// ContentUri, relative to the template's dir; shipped as they are, without BuildMethod.
    pub prebuilt_layers: Vec<(String, String)>,
}

impl Derivation {
    pub fn is_empty(&self) -> bool {
        self.uv_functions.is_empty() && self.code_uris.is_empty() && self.prebuilt_layers.is_empty()
    }
}

/// Writes the derived template beside sam's build output; returns its path.
pub fn write(template: &Path, shown: &str, sam_dir: &Path, derivation: &Derivation) -> Result<PathBuf> {
    let text = crate::project::template::read_text(template, shown)?;
    let mut derived = derive(&text, shown, derivation)?;
    let dir = crate::sys::layout::xtask_dir(sam_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let from = sam_dir.canonicalize().with_context(|| format!("resolving {}", sam_dir.display()))?;
    let to = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    relocate(&mut derived, &from, &to);
    let path = dir.join("template.json");
    let json = serde_json::to_string_pretty(&derived).context("encoding the derived template")?;
    crate::sys::atomic::write_atomically(&path, &json)?;
    Ok(path)
}

/// The template as JSON with the derivation's changes.
pub fn derive(text: &str, shown: &str, derivation: &Derivation) -> Result<Value> {
    let doc = crate::project::template::load_document(text, shown)?;
    let mut json = to_json(&doc);
    let Some(resources) = json.get_mut("Resources").and_then(Value::as_object_mut) else {
        bad_input!("SAM template {shown} has no Resources section")
    };
    for id in &derivation.uv_functions {
        set(resources, id, "Metadata", "BuildMethod", "python-uv");
    }
    for (id, code_uri) in &derivation.code_uris {
        set(resources, id, "Properties", "CodeUri", code_uri);
    }
    for (id, content_uri) in &derivation.prebuilt_layers {
        set(resources, id, "Properties", "ContentUri", content_uri);
        let metadata = resources.get_mut(id).and_then(|r| r.get_mut("Metadata")).and_then(Value::as_object_mut);
        if let Some(metadata) = metadata {
            metadata.remove("BuildMethod");
        }
    }
    Ok(json)
}

/// The properties SAM CLI reads as paths relative to the template, by resource type
/// (`RESOURCES_WITH_LOCAL_PATHS` of SAM CLI 1.170, samcli/lib/utils/resources.py); a dotted
/// name is a nested property.
const RESOURCES_WITH_LOCAL_PATHS: &[(&str, &[&str])] = &[
    ("AWS::Serverless::GraphQLApi", &["SchemaUri"]),
    ("AWS::Serverless::Function", &["CodeUri"]),
    ("AWS::Serverless::WebFunction", &["CodeUri"]),
    ("AWS::Serverless::Api", &["DefinitionUri"]),
    ("AWS::Serverless::HttpApi", &["DefinitionUri"]),
    ("AWS::Serverless::StateMachine", &["DefinitionUri"]),
    ("AWS::AppSync::GraphQLSchema", &["DefinitionS3Location"]),
    (
        "AWS::AppSync::Resolver",
        &["RequestMappingTemplateS3Location", "ResponseMappingTemplateS3Location", "CodeS3Location"],
    ),
    (
        "AWS::AppSync::FunctionConfiguration",
        &["RequestMappingTemplateS3Location", "ResponseMappingTemplateS3Location", "CodeS3Location"],
    ),
    ("AWS::Lambda::Function", &["Code"]),
    ("AWS::ApiGateway::RestApi", &["BodyS3Location"]),
    ("AWS::ApiGatewayV2::Api", &["BodyS3Location"]),
    ("AWS::ElasticBeanstalk::ApplicationVersion", &["SourceBundle"]),
    ("AWS::CloudFormation::ModuleVersion", &["ModulePackage"]),
    ("AWS::CloudFormation::ResourceVersion", &["SchemaHandlerPackage"]),
    ("AWS::CloudFormation::Stack", &["TemplateURL"]),
    ("AWS::CloudFormation::StackSet", &["TemplateURL"]),
    ("AWS::Serverless::Application", &["Location"]),
    ("AWS::Lambda::LayerVersion", &["Content"]),
    ("AWS::Serverless::LayerVersion", &["ContentUri"]),
    ("AWS::Glue::Job", &["Command.ScriptLocation"]),
    ("AWS::StepFunctions::StateMachine", &["DefinitionS3Location"]),
];

/// Every relative path of the template, which sam resolves against the template's directory
/// `from`, rewritten for a template in `to`: absolute where sam builds the code (see
/// [`built_by_sam`]), else relative to `to`.
fn relocate(template: &mut Value, from: &Path, to: &Path) {
    // Template-level metadata of a serverless application (`METADATA_WITH_LOCAL_PATHS`).
    if let Some(app) = template.pointer_mut("/Metadata/AWS::ServerlessRepo::Application") {
        for key in ["LicenseUrl", "ReadmeUrl"] {
            relocate_value(app.get_mut(key), from, to, false);
        }
    }
    if let Some(resources) = template.get_mut("Resources").and_then(Value::as_object_mut) {
        for (key, resource) in resources.iter_mut() {
            if key.starts_with("Fn::ForEach::") {
                relocate_for_each(resource, from, to);
            } else {
                relocate_resource(resource, from, to);
            }
        }
    }
    relocate_includes(template, from, to);
}

/// A `Fn::ForEach` block's resources (`[variable, collection, {resources}]`), nested or not.
fn relocate_for_each(block: &mut Value, from: &Path, to: &Path) {
    let Some(resources) = block.get_mut(2).and_then(Value::as_object_mut) else { return };
    for (key, resource) in resources.iter_mut() {
        if key.starts_with("Fn::ForEach::") {
            relocate_for_each(resource, from, to);
        } else {
            relocate_resource(resource, from, to);
        }
    }
}

fn relocate_resource(resource: &mut Value, from: &Path, to: &Path) {
    let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some((_, properties)) = RESOURCES_WITH_LOCAL_PATHS.iter().find(|(t, _)| *t == kind) else { return };
    let image = resource.pointer("/Properties/PackageType").and_then(Value::as_str) == Some("Image");
    if image && matches!(kind.as_str(), "AWS::Serverless::Function" | "AWS::Lambda::Function") {
        // An image function's code is its image: nothing here is a path sam reads.
        return;
    }
    let built = built_by_sam(resource, &kind);
    for property in *properties {
        let pointer = format!("/Properties/{}", property.replace('.', "/"));
        relocate_value(resource.pointer_mut(&pointer), from, to, built);
    }
    if kind == "AWS::Serverless::GraphQLApi" {
        for section in ["Resolvers", "Functions"] {
            if let Some(tree) = resource.pointer_mut(&format!("/Properties/{section}")) {
                relocate_code_uris(tree, from, to);
            }
        }
    }
    relocate_value(resource.pointer_mut("/Metadata/aws:asset:path"), from, to, false);
}

/// Every `CodeUri` below a GraphQLApi's `Resolvers` or `Functions`.
fn relocate_code_uris(node: &mut Value, from: &Path, to: &Path) {
    if let Some(map) = node.as_object_mut() {
        for (key, value) in map.iter_mut() {
            if key == "CodeUri" {
                relocate_value(Some(value), from, to, false);
            } else {
                relocate_code_uris(value, from, to);
            }
        }
    }
}

/// `Fn::Transform: {Name: AWS::Include, Parameters: {Location: ...}}` anywhere in the template.
fn relocate_includes(node: &mut Value, from: &Path, to: &Path) {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "Fn::Transform" && value.get("Name").and_then(Value::as_str) == Some("AWS::Include") {
                    relocate_value(value.pointer_mut("/Parameters/Location"), from, to, false);
                } else {
                    relocate_includes(value, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| relocate_includes(item, from, to)),
        _ => {}
    }
}

/// Whether sam builds this function's or layer's code (and so reads its code path under
/// `--base-dir`), as SAM CLI decides: a zip function with code that is no `.zip`, not inline
/// and not `SkipBuild`; a layer with a BuildMethod, code that is no `.zip`, not `SkipBuild`.
fn built_by_sam(resource: &Value, kind: &str) -> bool {
    let code = match kind {
        "AWS::Serverless::Function" | "AWS::Serverless::WebFunction" => resource.pointer("/Properties/CodeUri"),
        "AWS::Lambda::Function" => resource.pointer("/Properties/Code"),
        "AWS::Serverless::LayerVersion" => resource.pointer("/Properties/ContentUri"),
        "AWS::Lambda::LayerVersion" => resource.pointer("/Properties/Content"),
        _ => return false,
    };
    let Some(code) = code.and_then(Value::as_str) else { return false };
    let skip = resource.pointer("/Metadata/SkipBuild").is_some_and(|v| v == &Value::Bool(true));
    if code.ends_with(".zip") || skip {
        return false;
    }
    match kind {
        "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => {
            resource.pointer("/Metadata/BuildMethod").and_then(Value::as_str).is_some()
        }
        _ => resource.pointer("/Properties/InlineCode").is_none(),
    }
}

/// A path property rewritten in place: skipped when it is no relative path (not text, an
/// `s3://` or `http(s)://` location, absolute), as SAM CLI's `_resolve_relative_to` does.
fn relocate_value(value: Option<&mut Value>, from: &Path, to: &Path, absolute: bool) {
    let Some(value) = value else { return };
    let Some(path) = value.as_str() else { return };
    if path.starts_with("s3://") || path.starts_with("http://") || path.starts_with("https://") {
        return;
    }
    if Path::new(path).is_absolute() {
        return;
    }
    let target = lexical(&from.join(path));
    let relocated = if absolute { target } else { relative(&target, to) };
    *value = Value::String(relocated.display().to_string());
}

/// `a/./b/../c` -> `a/c` without touching the disk (Python's `os.path.normpath`).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `target` relative to the directory `base`, both absolute and normalised (`os.path.relpath`).
fn relative(target: &Path, base: &Path) -> PathBuf {
    let target_parts: Vec<_> = target.components().collect();
    let base_parts: Vec<_> = base.components().collect();
    let common = target_parts.iter().zip(&base_parts).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base_parts.len() {
        out.push("..");
    }
    for part in &target_parts[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `Resources.<id>.<section>.<key> = value`, creating the section when it is missing.
fn set(resources: &mut Map<String, Value>, id: &str, section: &str, key: &str, value: &str) {
    let Some(resource) = resources.get_mut(id).and_then(Value::as_object_mut) else { return };
    let section = resource.entry(section).or_insert_with(|| Value::Object(Map::new()));
    if let Some(section) = section.as_object_mut() {
        section.insert(key.into(), Value::String(value.into()));
    }
}

/// YAML (intrinsics already in long form) as JSON; `Fn::GetAtt: A.B` becomes `["A", "B"]`,
/// the only form JSON templates allow.
fn to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(s.clone())),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (key, value) in hash {
                let key = match key {
                    Yaml::String(s) | Yaml::Real(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                let value = match (key.as_str(), value) {
                    ("Fn::GetAtt", Yaml::String(dotted)) => match dotted.split_once('.') {
                        Some((resource, attribute)) => Value::Array(vec![resource.into(), attribute.into()]),
                        None => Value::String(dotted.clone()),
                    },
                    _ => to_json(value),
                };
                map.insert(key, value);
            }
            Value::Object(map)
        }
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_the_named_functions_and_keeps_intrinsics() {
        let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  New:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: new/\n      Runtime: python3.14\n      Environment:\n        Variables:\n          QUEUE: !GetAtt Queue.Arn\n          TABLE: !Ref Table\n  Old:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: old/, Runtime: python3.11, MemorySize: 256}\n    Metadata: {BuildMethod: python3.11}\n";
        let derivation = Derivation {
            uv_functions: vec!["New".into()],
            code_uris: vec![("Old".into(), ".aws-sam/xtask/stage".into())],
            prebuilt_layers: Vec::new(),
        };
        let json = derive(text, "t.yaml", &derivation).unwrap();
        assert_eq!(json["Resources"]["Old"]["Properties"]["CodeUri"], ".aws-sam/xtask/stage");
        assert_eq!(json["Resources"]["New"]["Properties"]["CodeUri"], "new/");
        assert_eq!(json["Resources"]["New"]["Metadata"]["BuildMethod"], "python-uv");
        assert_eq!(json["Resources"]["Old"]["Metadata"]["BuildMethod"], "python3.11");
        assert_eq!(json["Resources"]["Old"]["Properties"]["MemorySize"], 256);
        let vars = &json["Resources"]["New"]["Properties"]["Environment"]["Variables"];
        assert_eq!(vars["QUEUE"]["Fn::GetAtt"], serde_json::json!(["Queue", "Arn"]));
        assert_eq!(vars["TABLE"]["Ref"], "Table");
        assert_eq!(json["Transform"], "AWS::Serverless-2016-10-31");
    }

    /// Every path property SAM CLI resolves against the template is rewritten for a template
    /// one level deeper: what sam uploads as it is relative to the new place, what it builds
    /// absolute; S3 and HTTP locations, absolute paths and intrinsics are left alone.
    #[test]
    fn relative_paths_follow_the_template_to_its_new_place() {
        let text = r#"
Transform: AWS::Serverless-2016-10-31
Metadata:
  AWS::ServerlessRepo::Application: {ReadmeUrl: README.md, LicenseUrl: s3://bucket/LICENSE}
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties: {DefinitionUri: statemachine/machine.asl.json}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      DefinitionBody:
        Fn::Transform: {Name: AWS::Include, Parameters: {Location: ./api/openapi.yaml}}
  Built:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.14}
  Zipped:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: code.zip, Handler: app.handler, Runtime: python3.11}
  AsIs:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/deps}
  BuiltLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/built}
    Metadata: {BuildMethod: python3.14}
  Job:
    Type: AWS::Glue::Job
    Properties: {Command: {Name: glueetl, ScriptLocation: glue/job.py}}
  Remote:
    Type: AWS::Serverless::StateMachine
    Properties: {DefinitionUri: {Bucket: b, Key: k}}
  Absolute:
    Type: AWS::StepFunctions::StateMachine
    Properties: {DefinitionS3Location: /srv/machine.json}
  Nested:
    Type: AWS::Serverless::Application
    Properties: {Location: https://example.com/t.yaml}
"#;
        let mut json = derive(text, "t.yaml", &Derivation::default()).unwrap();
        relocate(&mut json, Path::new("/repo/app"), Path::new("/repo/app/.aws-sam/xtask"));
        let at = |pointer: &str| json.pointer(pointer).unwrap().clone();
        assert_eq!(at("/Resources/Machine/Properties/DefinitionUri"), "../../statemachine/machine.asl.json");
        assert_eq!(
            at("/Resources/Api/Properties/DefinitionBody/Fn::Transform/Parameters/Location"),
            "../../api/openapi.yaml"
        );
        assert_eq!(at("/Resources/Built/Properties/CodeUri"), "/repo/app/fn");
        assert_eq!(at("/Resources/Zipped/Properties/CodeUri"), "../../code.zip");
        assert_eq!(at("/Resources/AsIs/Properties/ContentUri"), "../../layers/deps");
        assert_eq!(at("/Resources/BuiltLayer/Properties/ContentUri"), "/repo/app/layers/built");
        assert_eq!(at("/Resources/Job/Properties/Command/ScriptLocation"), "../../glue/job.py");
        assert_eq!(at("/Metadata/AWS::ServerlessRepo::Application/ReadmeUrl"), "../../README.md");
        assert_eq!(at("/Metadata/AWS::ServerlessRepo::Application/LicenseUrl"), "s3://bucket/LICENSE");
        assert_eq!(at("/Resources/Remote/Properties/DefinitionUri"), serde_json::json!({"Bucket": "b", "Key": "k"}));
        assert_eq!(at("/Resources/Absolute/Properties/DefinitionS3Location"), "/srv/machine.json");
        assert_eq!(at("/Resources/Nested/Properties/Location"), "https://example.com/t.yaml");
    }

    /// Every template shape in tests/data/template_shapes reads as SAM CLI reads it: the same
    /// document as `samcli.yamlhelper.yaml_parse` gives (its .json, from regenerate.sh), or
    /// refused where SAM refuses it (its .rejected).
    #[test]
    fn every_template_shape_reads_as_sam_cli_reads_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/template_shapes");
        let mut cases = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            cases += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let shown = path.file_name().unwrap().to_string_lossy().into_owned();
            let read = crate::project::template::load_document(&text, &shown);
            if path.with_extension("rejected").exists() {
                assert!(read.is_err(), "{shown}: SAM refuses it, this tool read it");
                continue;
            }
            let golden_text = std::fs::read_to_string(path.with_extension("json")).unwrap();
            let doc = read.unwrap_or_else(|err| panic!("{shown}: SAM reads it, this tool refused it: {err}"));
            // As JSON (what the derived template holds), and in SAM's key order.
            assert_eq!(to_json(&doc), serde_json::from_str::<Value>(&golden_text).unwrap(), "{shown}");
            assert_eq!(doc, crate::project::cfn_yaml::load(&golden_text).unwrap(), "{shown}: key order");
        }
        assert!(cases >= 25, "only {cases} cases in {}", dir.display());
    }
}
