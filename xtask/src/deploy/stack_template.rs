//! What lambda-deploy needs from the SAM template beyond the functions: each parameter's type
//! and default (every parameter is passed explicitly, so a deploy never silently reuses a
//! previous value), which resources and outputs exist, to know which checks apply.

use std::path::Path;

use anyhow::{Context, Result};
use yaml_rust2::{Yaml, YamlLoader};

use crate::bad_input;

/// The parameter that, when set, stops the stack from creating its own Secrets Manager
/// endpoint (seed fix 1).
pub const EXISTING_ENDPOINT_PARAMETER: &str = "ExistingSecretsManagerVpcEndpoint";
/// The endpoint the stack creates when that parameter is empty.
pub const ENDPOINT_RESOURCE: &str = "SecretsManagerVpcEndpoint";
/// The function's security group, which the endpoint must admit on 443 (seed issue 3).
pub const LAMBDA_SECURITY_GROUP_RESOURCE: &str = "LambdaSecurityGroup";
pub const LAMBDA_SECURITY_GROUP_OUTPUT: &str = "LambdaSecurityGroupId";
pub const ENDPOINT_OUTPUT: &str = "SecretsManagerVpcEndpointId";
/// `GET <ApiUrl>/health` is the post-deploy health check.
pub const API_URL_OUTPUT: &str = "ApiUrl";

pub const VPC_ID_TYPE: &str = "AWS::EC2::VPC::Id";
pub const SUBNET_IDS_TYPE: &str = "List<AWS::EC2::Subnet::Id>";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateParameter {
    pub name: String,
    pub kind: String,
    pub default: Option<String>,
    /// `NoEcho: true`: the value is a secret, never to be printed.
    pub no_echo: bool,
}

#[derive(Debug)]
pub struct StackTemplate {
    pub parameters: Vec<TemplateParameter>,
    pub resources: Vec<(String, String)>,
}

impl StackTemplate {
    pub fn load(path: &Path, shown_as: &str) -> Result<StackTemplate> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown_as}"))?;
        StackTemplate::parse(&text, shown_as)
    }

    pub fn parse(text: &str, shown_as: &str) -> Result<StackTemplate> {
        let docs = match YamlLoader::load_from_str(text) {
            Ok(docs) => docs,
            Err(err) => bad_input!("SAM template {shown_as} is not valid YAML: {err}"),
        };
        let Some(doc) = docs.into_iter().next() else { bad_input!("SAM template {shown_as} is empty") };
        let mut parameters = Vec::new();
        if let Yaml::Hash(params) = &doc["Parameters"] {
            for (name, spec) in params {
                let Some(name) = name.as_str() else { continue };
                parameters.push(TemplateParameter {
                    name: name.to_string(),
                    kind: spec["Type"].as_str().unwrap_or("String").to_string(),
                    default: scalar(&spec["Default"]),
                    no_echo: scalar(&spec["NoEcho"]).is_some_and(|v| v.eq_ignore_ascii_case("true")),
                });
            }
        }
        let mut resources = Vec::new();
        if let Yaml::Hash(items) = &doc["Resources"] {
            for (id, resource) in items {
                if let Some(id) = id.as_str() {
                    resources.push((id.to_string(), resource["Type"].as_str().unwrap_or_default().to_string()));
                }
            }
        }
        Ok(StackTemplate { parameters, resources })
    }

    pub fn parameter(&self, name: &str) -> Option<&TemplateParameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    pub fn has_resource(&self, logical_id: &str) -> bool {
        self.resources.iter().any(|(id, _)| id == logical_id)
    }

    pub fn parameter_of_type(&self, kind: &str) -> Option<&TemplateParameter> {
        self.parameters.iter().find(|p| p.kind == kind)
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

    #[test]
    fn reads_the_sample_template() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/lambda/template.yaml");
        let template = StackTemplate::load(&path, "template.yaml").unwrap();
        let endpoint = template.parameter(EXISTING_ENDPOINT_PARAMETER).unwrap();
        assert_eq!(endpoint.default.as_deref(), Some(""));
        assert_eq!(template.parameter("AlarmEvaluationPeriods").unwrap().default.as_deref(), Some("1"));
        assert_eq!(template.parameter("VpcId").unwrap().default, None);
        assert_eq!(template.parameter_of_type(SUBNET_IDS_TYPE).unwrap().name, "SubnetIds");
        assert!(template.has_resource(LAMBDA_SECURITY_GROUP_RESOURCE));
        assert!(template.parameters.iter().all(|p| !p.no_echo));
    }

    #[test]
    fn no_echo_parameters_are_known() {
        let template =
            StackTemplate::parse("Parameters:\n  DbPassword:\n    Type: String\n    NoEcho: true\n", "t").unwrap();
        assert!(template.parameter("DbPassword").unwrap().no_echo);
    }
}
