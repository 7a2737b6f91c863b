//! The rehearsal's stand-ins for cross-stack imports. A template's `Fn::ImportValue` reads an
//! export of another stack, one the app's README says to deploy first (a shared Cognito pool,
//! a VPC, a table). The local AWS starts empty, so the change set would fail with "No export
//! named X found", a failure of the rehearsal, not of the app. So before the deploy, each
//! import the rehearsal can name (a literal, or a `!Sub`/`!Join` over parameters) that no stack
//! of the local AWS exports is exported by one stand-in stack, with a value of a sensible shape
//! (an ARN where the name or the property calls for one), and said so: the rehearsal proves
//! nothing about it, and the real account must have the stack that exports it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use xshell::Shell;

use crate::aws::Aws;

/// The stack that exports the stand-ins in the local AWS.
pub const STAND_IN_STACK: &str = "rehearsal-imports-stand-in";

/// One import of the template: the export's name (`None` when the rehearsal cannot resolve
/// it) as written, and the property it is the value of.
#[derive(Debug, PartialEq, Eq)]
pub struct Import {
    pub name: Option<String>,
    pub written: String,
    pub property: String,
}

/// Every `Fn::ImportValue` of the transformed template, names resolved with the deploy's
/// parameter values and the pseudo parameters.
pub fn imports(template: &Value, parameters: &[(String, String)], pseudo: &[(&str, &str)]) -> Vec<Import> {
    let mut values: BTreeMap<&str, &str> = pseudo.iter().copied().collect();
    values.extend(parameters.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut found = Vec::new();
    walk(&template["Resources"], "", &values, &mut found);
    walk(&template["Outputs"], "", &values, &mut found);
    found
}

fn walk(node: &Value, property: &str, values: &BTreeMap<&str, &str>, found: &mut Vec<Import>) {
    match node {
        Value::Object(map) => {
            if let (1, Some(name)) = (map.len(), map.get("Fn::ImportValue")) {
                let import =
                    Import { name: resolve(name, values), written: name.to_string(), property: property.to_string() };
                if !found.contains(&import) {
                    found.push(import);
                }
                return;
            }
            for (key, value) in map {
                let property = if key.starts_with("Fn::") || key == "Ref" { property } else { key.as_str() };
                walk(value, property, values, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(item, property, values, found)),
        _ => {}
    }
}

/// The text of a name: a string, `Ref` of a parameter, `Fn::Sub` over parameters (and its own
/// variables), `Fn::Join` of those; `None` for anything else (a `GetAtt`, an unknown name).
fn resolve(node: &Value, values: &BTreeMap<&str, &str>) -> Option<String> {
    match node {
        Value::String(text) => Some(text.clone()),
        Value::Object(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            match key.as_str() {
                "Ref" => values.get(arg.as_str()?).map(|v| v.to_string()),
                "Fn::Sub" => {
                    let (text, own) = match arg {
                        Value::String(text) => (text.as_str(), serde_json::Map::new()),
                        Value::Array(pair) if pair.len() == 2 => (pair[0].as_str()?, pair[1].as_object()?.clone()),
                        _ => return None,
                    };
                    substitute(text, |name| match own.get(name) {
                        Some(value) => resolve(value, values),
                        None => values.get(name).map(|v| v.to_string()),
                    })
                }
                "Fn::Join" => {
                    let parts = arg.as_array()?;
                    let separator = parts.first()?.as_str()?;
                    let items: Option<Vec<String>> =
                        parts.get(1)?.as_array()?.iter().map(|item| resolve(item, values)).collect();
                    Some(items?.join(separator))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `${Name}` replaced by `lookup(Name)`; `${!Literal}` is `${Literal}`. `None` when a name has
/// no value.
fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(&lookup(name)?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A value shaped like what the import stands for: an ARN where the export's name or the
/// property it fills says so (of the service the name suggests), else a plain string that
/// names itself.
pub fn stand_in_value(name: &str, property: &str, region: &str, account: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    let lower = name.to_ascii_lowercase();
    let prop = property.to_ascii_lowercase();
    let has = |word: &str| lower.contains(word) || prop.contains(word);
    if prop.contains("policyarn") || (has("arn") && lower.contains("polic")) {
        return format!("arn:aws:iam::{account}:policy/{slug}");
    }
    if prop == "role" || (has("arn") && lower.contains("role")) {
        return format!("arn:aws:iam::{account}:role/{slug}");
    }
    if prop == "layers" || (has("arn") && lower.contains("layer")) {
        return format!("arn:aws:lambda:{region}:{account}:layer:{slug}:1");
    }
    if !has("arn") {
        return format!("rehearsal-{}", slug.to_ascii_lowercase());
    }
    let kinds: [(&str, String); 8] = [
        ("topic", format!("arn:aws:sns:{region}:{account}:{slug}")),
        ("queue", format!("arn:aws:sqs:{region}:{account}:{slug}")),
        ("table", format!("arn:aws:dynamodb:{region}:{account}:table/{slug}")),
        ("bucket", format!("arn:aws:s3:::{}", slug.to_ascii_lowercase())),
        ("function", format!("arn:aws:lambda:{region}:{account}:function:{slug}")),
        ("userpool", format!("arn:aws:cognito-idp:{region}:{account}:userpool/{region}_rehearsal")),
        ("key", format!("arn:aws:kms:{region}:{account}:key/00000000-0000-0000-0000-000000000000")),
        ("secret", format!("arn:aws:secretsmanager:{region}:{account}:secret:{slug}-AbCdEf")),
    ];
    let squashed = lower.replace(['-', '_'], "");
    kinds
        .into_iter()
        .find(|(word, _)| squashed.contains(word))
        .map(|(_, arn)| arn)
        .unwrap_or_else(|| format!("arn:aws:ssm:{region}:{account}:parameter/{slug}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Exports {
    #[serde(default)]
    exports: Vec<Export>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Export {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Identity {
    account: String,
}

/// Exports, from one stand-in stack of the local AWS, each import of the transformed template
/// that no stack there exports; says which, and which imports it cannot name.
pub fn stand_in_exports(
    sh: &Shell,
    aws: &Aws,
    stack: &str,
    transformed: &Path,
    parameters: &[(String, String)],
) -> Result<()> {
    let text = crate::sys::beneath::read(transformed).with_context(|| format!("reading {}", transformed.display()))?;
    let template: Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", transformed.display()))?;
    if !text.windows(b"Fn::ImportValue".len()).any(|w| w == b"Fn::ImportValue") {
        return Ok(());
    }
    let identity: Identity = aws.read(sh, &["sts", "get-caller-identity"], "aws sts get-caller-identity")?;
    let region = aws.region.as_str();
    let pseudo = [
        ("AWS::Region", region),
        ("AWS::AccountId", identity.account.as_str()),
        ("AWS::Partition", "aws"),
        ("AWS::StackName", stack),
        ("AWS::URLSuffix", "amazonaws.com"),
    ];
    let found = imports(&template, parameters, &pseudo);
    let exported: Exports = aws.read(sh, &["cloudformation", "list-exports"], "aws cloudformation list-exports")?;
    let mut outputs = serde_json::Map::new();
    let mut shown = Vec::new();
    for import in &found {
        let Some(name) = &import.name else {
            say!(
                "    notice: Fn::ImportValue {} ({}): the rehearsal cannot resolve the export's name, so nothing stands in for it; the deploy fails unless the local AWS has it",
                import.written,
                import.property
            );
            continue;
        };
        if exported.exports.iter().any(|e| e.name == *name) || shown.iter().any(|(n, _)| n == name) {
            continue;
        }
        let value = stand_in_value(name, &import.property, region, &identity.account);
        outputs.insert(format!("Export{}", outputs.len() + 1), json!({"Value": value, "Export": {"Name": name}}));
        shown.push((name.clone(), value));
    }
    if outputs.is_empty() {
        return Ok(());
    }
    let stand_in = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "lambda-xtask rehearsal: stand-in for the prerequisite stacks the template imports from",
        "Resources": {"StandIn": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    });
    let body = stand_in.to_string();
    aws.write(
        sh,
        &["cloudformation", "create-stack", "--stack-name", STAND_IN_STACK, "--template-body", &body],
        "aws cloudformation create-stack",
    )?;
    for (name, value) in &shown {
        say!(
            "    notice: Fn::ImportValue {name}: no stack of the local AWS exports it, so the stand-in stack {STAND_IN_STACK} exports {value}; the real account must have the stack that exports it (deployed first), and the rehearsal proves nothing about it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names_resolve_over_parameters_and_pseudo_parameters() {
        let template = json!({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
                "POOL": {"Fn::ImportValue": {"Fn::Sub": "${Stack}-UserPool"}},
                "CLIENT": {"Fn::ImportValue": {"Fn::Sub": ["${S}-Client-${AWS::Region}", {"S": {"Ref": "Stack"}}]}},
                "LITERAL": {"Fn::ImportValue": "shared-table"},
                "JOINED": {"Fn::ImportValue": {"Fn::Join": ["-", [{"Ref": "Stack"}, "Bus"]]}},
                "UNKNOWN": {"Fn::ImportValue": {"Fn::GetAtt": ["X", "Name"]}},
            }}}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": [{"Fn::ImportValue": {"Fn::Sub": "${Stack}-read-policy"}}]}},
        }});
        let parameters = [("Stack".to_string(), "shared".to_string())];
        let found = imports(&template, &parameters, &[("AWS::Region", "eu-west-1")]);
        // In the template's key order, which serde_json's map may sort: compared as a set.
        let mut names: Vec<(Option<&str>, &str)> =
            found.iter().map(|i| (i.name.as_deref(), i.property.as_str())).collect();
        names.sort_by_key(|(_, property)| *property);
        assert_eq!(
            names,
            [
                (Some("shared-Client-eu-west-1"), "CLIENT"),
                (Some("shared-Bus"), "JOINED"),
                (Some("shared-table"), "LITERAL"),
                (Some("shared-read-policy"), "ManagedPolicyArns"),
                (Some("shared-UserPool"), "POOL"),
                (None, "UNKNOWN"),
            ]
        );
    }

    #[test]
    fn stand_in_values_are_arns_where_the_name_or_the_property_asks_for_one() {
        let value = |name: &str, property: &str| stand_in_value(name, property, "us-east-1", "123456789012");
        assert_eq!(
            value("app-todo-table-read-policy", "ManagedPolicyArns"),
            "arn:aws:iam::123456789012:policy/app-todo-table-read-policy"
        );
        assert_eq!(value("app-TopicArn", "TOPIC"), "arn:aws:sns:us-east-1:123456789012:app-TopicArn");
        assert_eq!(
            value("app-OrdersTableArn", "Resource"),
            "arn:aws:dynamodb:us-east-1:123456789012:table/app-OrdersTableArn"
        );
        assert_eq!(value("app-todo-table", "TODO_TABLE"), "rehearsal-app-todo-table");
        assert_eq!(
            value("cognito-UserPoolAdminGroupName", "ADMIN_GROUP_NAME"),
            "rehearsal-cognito-userpooladmingroupname"
        );
        assert_eq!(value("shared-ExecRoleArn", "Role"), "arn:aws:iam::123456789012:role/shared-ExecRoleArn");
    }
}
