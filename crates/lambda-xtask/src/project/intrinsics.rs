//! Intrinsic functions resolved the way `sam build` resolves them before it reads a function's
//! Runtime, Architectures, Handler, CodeUri or Layers: a `!Ref` to a template parameter is its
//! value (the `Default`, or a `parameter_overrides` value on top), and `!Sub`, `!FindInMap`,
//! `!Join`, `!Select` and `!Split` over such values are computed. SAM CLI does the same with
//! its `IntrinsicResolver` (samcli/lib/providers/sam_base_provider.py, `get_template`), so
//! `Architectures: [!Ref Arch]` with `Default: arm64` builds arm64 wheels, and the guards must
//! judge them as arm64.
//!
//! Anything else (a resource's `!GetAtt`, a pseudo parameter such as `AWS::Region`, `!If`, a
//! parameter with neither a Default nor an override) is unresolved: `None`, and the caller says
//! so instead of guessing.

use std::collections::BTreeMap;

use yaml_rust2::yaml::Hash;
use yaml_rust2::Yaml;

/// One template parameter's value as a build or deploy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParameterValue {
    value: String,
    /// `CommaDelimitedList` or `List<...>`: `!Ref` gives a list.
    list: bool,
    /// `NoEcho: true`: a secret, never put where it could be printed.
    no_echo: bool,
}

/// The template's parameters with a value: their `Default`, replaced by an override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterValues {
    values: BTreeMap<String, ParameterValue>,
    /// Parameters the template declares, with a value or not.
    declared: Vec<String>,
}

impl ParameterValues {
    /// From the template's `Parameters` section, with `overrides` (`Key`, `Value`) on top; an
    /// override of a parameter the template does not declare is ignored, as CloudFormation
    /// would refuse it and sam build ignores it.
    pub fn new(parameters: &Yaml, overrides: &[(String, String)]) -> ParameterValues {
        let mut values = ParameterValues::default();
        let Yaml::Hash(parameters) = parameters else { return values };
        for (name, spec) in parameters {
            let Some(name) = name.as_str() else { continue };
            values.declared.push(name.to_string());
            let kind = spec["Type"].as_str().unwrap_or("String");
            let list = kind == "CommaDelimitedList" || kind.starts_with("List<");
            let no_echo = matches!(&spec["NoEcho"], Yaml::Boolean(true))
                || spec["NoEcho"].as_str().is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let default = match &spec["Default"] {
                Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
                Yaml::Integer(i) => Some(i.to_string()),
                Yaml::Boolean(b) => Some(b.to_string()),
                Yaml::Array(items) => {
                    Some(items.iter().map(crate::project::cfn_yaml::describe).collect::<Vec<_>>().join(","))
                }
                _ => None,
            };
            let value = overrides.iter().rev().find(|(key, _)| key == name).map(|(_, v)| v.clone()).or(default);
            if let Some(value) = value {
                values.values.insert(name.to_string(), ParameterValue { value, list, no_echo });
            }
        }
        values
    }

    pub fn is_declared(&self, name: &str) -> bool {
        self.declared.iter().any(|d| d == name)
    }

    /// The value of a parameter that has one, as text.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.value.as_str())
    }
}

/// Resolves intrinsics against the parameters and the template's `Mappings`.
pub struct Resolver<'a> {
    pub parameters: &'a ParameterValues,
    pub mappings: &'a Yaml,
    /// Whether a NoEcho parameter's value may be used (it may decide a Runtime; it must never
    /// reach an environment variable the smoke test could print).
    pub reveal_no_echo: bool,
}

impl Resolver<'_> {
    /// The value with every intrinsic in it computed; `None` when one cannot be.
    pub fn resolve(&self, node: &Yaml) -> Option<Yaml> {
        match node {
            Yaml::Hash(hash) if crate::project::cfn_yaml::is_intrinsic(node) => {
                let (key, argument) = hash.iter().next()?;
                self.intrinsic(key.as_str()?, argument)
            }
            Yaml::Hash(hash) => {
                let mut out = Hash::new();
                for (key, value) in hash {
                    out.insert(key.clone(), self.resolve(value)?);
                }
                Some(Yaml::Hash(out))
            }
            Yaml::Array(items) => {
                items.iter().map(|item| self.resolve(item)).collect::<Option<Vec<_>>>().map(Yaml::Array)
            }
            Yaml::BadValue => None,
            other => Some(other.clone()),
        }
    }

    /// A value resolved to text (a scalar as CloudFormation reads it).
    pub fn text(&self, node: &Yaml) -> Option<String> {
        scalar(&self.resolve(node)?)
    }

    fn intrinsic(&self, name: &str, argument: &Yaml) -> Option<Yaml> {
        match name {
            "Ref" => self.reference(argument.as_str()?),
            "Fn::Sub" => self.sub(argument).map(Yaml::String),
            "Fn::FindInMap" => {
                let Yaml::Array(keys) = argument else { return None };
                let [map, first, second] = keys.as_slice() else { return None };
                let found =
                    &self.mappings[self.text(map)?.as_str()][self.text(first)?.as_str()][self.text(second)?.as_str()];
                self.resolve(found)
            }
            "Fn::Join" => {
                let Yaml::Array(parts) = argument else { return None };
                let [delimiter, Yaml::Array(_) | Yaml::Hash(_)] = parts.as_slice() else { return None };
                let Yaml::Array(items) = self.resolve(&parts[1])? else { return None };
                let items = items.iter().map(scalar).collect::<Option<Vec<_>>>()?;
                Some(Yaml::String(items.join(delimiter.as_str()?)))
            }
            "Fn::Select" => {
                let Yaml::Array(parts) = argument else { return None };
                let [index, list] = parts.as_slice() else { return None };
                let index: usize = self.text(index)?.parse().ok()?;
                let Yaml::Array(items) = self.resolve(list)? else { return None };
                items.get(index).cloned()
            }
            "Fn::Split" => {
                let Yaml::Array(parts) = argument else { return None };
                let [delimiter, text] = parts.as_slice() else { return None };
                let delimiter = delimiter.as_str()?;
                if delimiter.is_empty() {
                    return None;
                }
                let text = self.text(text)?;
                Some(Yaml::Array(text.split(delimiter).map(|s| Yaml::String(s.to_string())).collect()))
            }
            _ => None,
        }
    }

    /// `!Ref` to a parameter with a value (a list for list types); anything else (a resource,
    /// a pseudo parameter) is known only once deployed.
    fn reference(&self, name: &str) -> Option<Yaml> {
        let parameter = self.parameters.values.get(name)?;
        if parameter.no_echo && !self.reveal_no_echo {
            return None;
        }
        if parameter.list {
            return Some(Yaml::Array(parameter.value.split(',').map(|s| Yaml::String(s.trim().to_string())).collect()));
        }
        Some(Yaml::String(parameter.value.clone()))
    }

    /// `!Sub "text ${Name}"` or `!Sub ["text ${Name}", {Name: value}]`: `${!Literal}` stays
    /// `${Literal}`; a name that is neither a variable nor a parameter with a value (a
    /// resource attribute, a pseudo parameter) leaves it unresolved.
    fn sub(&self, argument: &Yaml) -> Option<String> {
        let (template, variables) = match argument {
            Yaml::String(text) => (text.as_str(), None),
            Yaml::Array(parts) => match parts.as_slice() {
                [Yaml::String(text), Yaml::Hash(variables)] => (text.as_str(), Some(variables)),
                [Yaml::String(text)] => (text.as_str(), None),
                _ => return None,
            },
            _ => return None,
        };
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let variable = variables.and_then(|v| v.get(&Yaml::String(name.to_string())));
                let value = match variable {
                    Some(value) => self.text(value)?,
                    None => scalar(&self.reference(name)?)?,
                };
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// A resolved scalar as text, the way CloudFormation reads `1` and `true` (as strings).
fn scalar(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The parameters an expression names (`!Ref X`, `${X}` in a `!Sub`), for knowing which
/// overrides change what sam builds.
pub fn referenced_parameters(node: &Yaml, parameters: &ParameterValues, into: &mut Vec<String>) {
    match node {
        Yaml::Hash(hash) => {
            for (key, value) in hash {
                match (key.as_str(), value) {
                    (Some("Ref"), Yaml::String(name)) if parameters.is_declared(name) => into.push(name.clone()),
                    (Some("Fn::Sub"), _) => {
                        let text = match value {
                            Yaml::String(text) => Some(text.as_str()),
                            Yaml::Array(parts) => parts.first().and_then(Yaml::as_str),
                            _ => None,
                        };
                        for name in text.map(sub_names).unwrap_or_default() {
                            if parameters.is_declared(name) {
                                into.push(name.to_string());
                            }
                        }
                        referenced_parameters(value, parameters, into);
                    }
                    _ => referenced_parameters(value, parameters, into),
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|item| referenced_parameters(item, parameters, into)),
        _ => {}
    }
}

/// The `${Name}` names of a `!Sub` text, less the `${!Literal}` ones.
fn sub_names(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if !after[..end].starts_with('!') {
            names.push(&after[..end]);
        }
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::cfn_yaml;

    const TEMPLATE: &str = r#"
Parameters:
  Arch: {Type: String, Default: arm64}
  Minor: {Type: String, Default: "12"}
  NoDefault: {Type: String}
  Secret: {Type: String, Default: hunter2, NoEcho: true}
  Subnets: {Type: CommaDelimitedList, Default: "a, b"}
Mappings:
  Runtimes:
    prod: {python: python3.13}
Values:
  - !Ref Arch
  - !Sub "python3.${Minor}"
  - !Sub ["${Module}.handler", {Module: !Join ["_", [app, !Ref Arch]]}]
  - !FindInMap [Runtimes, prod, python]
  - !Select [1, !Ref Subnets]
  - !Select [0, !Split ["-", "x86_64-y"]]
  - !Sub "cost ${!Literal} in ${Arch}"
  - !Ref NoDefault
  - !GetAtt Queue.Arn
  - !Sub "${AWS::Region}-${Arch}"
  - !Ref Secret
  - !If [IsProd, arm64, x86_64]
"#;

    fn resolved(overrides: &[(&str, &str)], reveal_no_echo: bool) -> Vec<Option<Yaml>> {
        let doc = cfn_yaml::load(TEMPLATE).unwrap();
        let overrides: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let parameters = ParameterValues::new(&doc["Parameters"], &overrides);
        let resolver = Resolver { parameters: &parameters, mappings: &doc["Mappings"], reveal_no_echo };
        doc["Values"].as_vec().unwrap().iter().map(|v| resolver.resolve(v)).collect()
    }

    fn s(text: &str) -> Option<Yaml> {
        Some(Yaml::String(text.into()))
    }

    #[test]
    fn parameters_with_a_value_resolve_and_the_rest_stay_unresolved() {
        let values = resolved(&[], false);
        assert_eq!(values[0], s("arm64"));
        assert_eq!(values[1], s("python3.12"));
        assert_eq!(values[2], s("app_arm64.handler"));
        assert_eq!(values[3], s("python3.13"));
        assert_eq!(values[4], s("b"), "a CommaDelimitedList is a list, its items trimmed");
        assert_eq!(values[5], s("x86_64"));
        assert_eq!(values[6], s("cost ${Literal} in arm64"));
        for (index, value) in values.iter().enumerate().take(12).skip(7) {
            assert_eq!(*value, None, "{index}");
        }
    }

    #[test]
    fn an_override_wins_over_the_default_and_fills_a_parameter_without_one() {
        let values = resolved(&[("Arch", "x86_64"), ("NoDefault", "given"), ("Undeclared", "x")], false);
        assert_eq!(values[0], s("x86_64"));
        assert_eq!(values[7], s("given"));
    }

    #[test]
    fn a_no_echo_value_is_used_only_when_revealing_is_allowed() {
        assert_eq!(resolved(&[], false)[10], None);
        assert_eq!(resolved(&[], true)[10], s("hunter2"));
    }

    #[test]
    fn referenced_parameters_are_found_in_refs_and_subs() {
        let doc = cfn_yaml::load(TEMPLATE).unwrap();
        let parameters = ParameterValues::new(&doc["Parameters"], &[]);
        let mut names = Vec::new();
        referenced_parameters(&doc["Values"], &parameters, &mut names);
        names.sort();
        names.dedup();
        assert_eq!(names, ["Arch", "Minor", "NoDefault", "Secret", "Subnets"]);
    }

    proptest::proptest! {
        /// Any text as a !Sub template: a value or None, never a panic.
        #[test]
        fn sub_never_panics(text in "\\PC{0,40}") {
            let parameters = ParameterValues::default();
            let resolver = Resolver { parameters: &parameters, mappings: &Yaml::BadValue, reveal_no_echo: false };
            let _ = resolver.sub(&Yaml::String(text));
        }
    }
}
