//! The template sam builds from when the user's would not build as it is here: a copy, never
//! the user's file, written as JSON (which CloudFormation and SAM read as they read YAML) into
//! `.aws-sam/xtask/`, a directory sam owns; sam is pointed at the template's own directory with
//! `--base-dir` so every relative CodeUri still resolves as in the original. It changes:
//! - `Metadata.BuildMethod: python-uv` on the functions whose runtime has no interpreter here
//!   (and no Docker);
//! - the CodeUri of a function whose dir holds the xtask's own files, to its staged copy;
//! - the ContentUri of a layer the xtask built with uv, to that build, without BuildMethod.

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
    let derived = derive(&text, shown, derivation)?;
    let dir = crate::project::layout::xtask_dir(sam_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
