//! The function's side: its configuration as `lambda get-function-configuration` prints it,
//! the secrets it and its stack name, and whether its Secrets Manager endpoint admits it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::aws::{IpPermission, SecurityGroup};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    #[serde(default)]
    pub runtime: Option<String>,
    #[serde(default)]
    pub handler: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub layers: Vec<Layer>,
    #[serde(default)]
    pub vpc_config: Option<VpcConfig>,
    #[serde(default)]
    pub code_size: Option<u64>,
    #[serde(default)]
    pub code_sha256: Option<String>,
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub role: Option<String>,
    /// Only the variables that name a secret (never their neighbours, which may hold values
    /// that must not be printed).
    #[serde(default, rename = "Environment", deserialize_with = "secret_variables")]
    pub secret_variables: Vec<(String, String)>,
}

impl FunctionConfiguration {
    pub fn architecture(&self) -> &str {
        self.architectures.first().map(String::as_str).unwrap_or("x86_64")
    }

    /// The function runs in a VPC (its subnets and security groups are set).
    pub fn vpc(&self) -> Option<&VpcConfig> {
        self.vpc_config.as_ref().filter(|v| !v.subnet_ids.is_empty() || !v.security_group_ids.is_empty())
    }

    pub fn summary(&self) -> String {
        let layers = if self.layers.is_empty() {
            "no layers".to_string()
        } else {
            format!("layers {}", self.layers.iter().map(|l| l.arn.as_str()).collect::<Vec<_>>().join(", "))
        };
        let vpc = match self.vpc() {
            Some(v) => {
                format!("VPC {} (groups {})", v.vpc_id.as_deref().unwrap_or("?"), v.security_group_ids.join(", "))
            }
            None => "no VPC".to_string(),
        };
        format!(
            "{}: {} on {}, handler {}, timeout {} s, {layers}, {vpc}, code {} bytes, CodeSha256 {}",
            self.function_name,
            self.runtime.as_deref().unwrap_or("?"),
            self.architecture(),
            self.handler.as_deref().unwrap_or("?"),
            self.timeout.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
            self.code_size.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
            self.code_sha256.as_deref().unwrap_or("?"),
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Layer {
    pub arn: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
}

fn secret_variables<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Environment {
        #[serde(default)]
        variables: BTreeMap<String, String>,
    }
    let environment = Option::<Environment>::deserialize(deserializer)?;
    Ok(environment
        .map(|e| e.variables.into_iter().filter(|(key, value)| names_a_secret(key, value)).collect())
        .unwrap_or_default())
}

/// A parameter or variable that names a Secrets Manager secret: a secretsmanager ARN, or a
/// key that says so (`...SecretArn`, `..._SECRET_ARN`, `..._SECRET_ID`).
pub fn names_a_secret(key: &str, value: &str) -> bool {
    let key = key.to_ascii_uppercase();
    !value.is_empty()
        && (value.starts_with("arn:aws:secretsmanager:")
            || key.ends_with("SECRETARN")
            || key.ends_with("SECRET_ARN")
            || key.ends_with("SECRET_ID"))
}

/// A secret the stack or the function names, and what `describe-secret` said of it.
#[derive(Debug, Clone)]
pub struct SecretState {
    /// Where it is named: a stack parameter or an environment variable of the function.
    pub named_by: String,
    /// As named (ARN or name).
    pub id: String,
    /// The ARN Secrets Manager answered with, when it exists.
    pub arn: Option<String>,
    /// UTC text of `DeletedDate`, when it is scheduled for deletion.
    pub deleted_date: Option<String>,
}

impl SecretState {
    /// The secret's name (`credmate/prod/database`): the ARN's name without AWS's suffix.
    pub fn name(&self) -> String {
        secret_name(self.arn.as_deref().unwrap_or(&self.id))
    }

    /// The path the secret sits under (`credmate/prod/`), for listing its live neighbours.
    pub fn prefix(&self) -> String {
        let name = self.name();
        match name.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => name,
        }
    }
}

/// A secret's name from its ARN (without the 6-character suffix AWS appends) or its name.
pub fn secret_name(id: &str) -> String {
    match id.splitn(7, ':').nth(6) {
        Some(name) => match name.rsplit_once('-') {
            Some((base, suffix)) if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                base.to_string()
            }
            _ => name.to_string(),
        },
        None => id.to_string(),
    }
}

/// What the function's Secrets Manager endpoint admits, read for a function with VpcConfig.
#[derive(Debug, Clone)]
pub struct EndpointIngress {
    pub endpoint_id: String,
    /// The endpoint's first security group: where a rule would go.
    pub endpoint_group: String,
    pub function_groups: Vec<String>,
    /// One of the endpoint's groups admits tcp 443 from a function group or from a range that
    /// covers the VPC.
    pub admitted: bool,
}

/// Does one of `endpoint_groups` admit tcp 443 from one of `function_groups`, or from a CIDR
/// range that covers all of `vpc_cidr`?
pub fn endpoint_admits(endpoint_groups: &[SecurityGroup], function_groups: &[String], vpc_cidr: Option<&str>) -> bool {
    endpoint_groups.iter().flat_map(|g| &g.ip_permissions).any(|rule| {
        admits_443(rule)
            && (rule.user_id_group_pairs.iter().any(|pair| function_groups.contains(&pair.group_id))
                || vpc_cidr.is_some_and(|vpc| rule.ip_ranges.iter().any(|r| cidr_contains(&r.cidr_ip, vpc))))
    })
}

/// Whether the rule lets tcp 443 through (all traffic, or a tcp range that holds 443).
pub fn admits_443(rule: &IpPermission) -> bool {
    match rule.ip_protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "6" => rule.from_port.unwrap_or(0) <= 443 && rule.to_port.unwrap_or(65535) >= 443,
        _ => false,
    }
}

/// Whether the IPv4 range `outer` contains all of `inner` (both `a.b.c.d/n`).
pub fn cidr_contains(outer: &str, inner: &str) -> bool {
    let parse = |cidr: &str| -> Option<(u32, u32)> {
        let (address, bits) = cidr.split_once('/')?;
        let address: std::net::Ipv4Addr = address.parse().ok()?;
        let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
        Some((u32::from(address), bits))
    };
    let (Some((outer_addr, outer_bits)), Some((inner_addr, inner_bits))) = (parse(outer), parse(inner)) else {
        return false;
    };
    let mask = if outer_bits == 0 { 0 } else { u32::MAX << (32 - outer_bits) };
    outer_bits <= inner_bits && (outer_addr & mask) == (inner_addr & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_secret_variables_are_kept() {
        let config: FunctionConfiguration = serde_json::from_value(serde_json::json!({
            "FunctionName": "f",
            "Environment": {"Variables": {
                "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:credmate/prod/database-kLfGYo",
                "API_TOKEN": "do-not-keep-me",
                "JWT_SECRET_ID": "credmate/prod/jwt"
            }}
        }))
        .unwrap();
        let keys: Vec<&str> = config.secret_variables.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["DATABASE_SECRET_ARN", "JWT_SECRET_ID"]);
        assert!(!format!("{config:?}").contains("do-not-keep-me"));
    }

    #[test]
    fn secret_names_drop_the_arn_suffix() {
        let state = SecretState {
            named_by: "DatabaseSecretArn".into(),
            id: "arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/prod/database-kLfGYo".into(),
            arn: None,
            deleted_date: None,
        };
        assert_eq!(state.name(), "credmate/prod/database");
        assert_eq!(state.prefix(), "credmate/prod/");
    }

    #[test]
    fn ingress_from_the_group_or_a_covering_range() {
        let groups: Vec<SecurityGroup> = serde_json::from_value(serde_json::json!([{
            "GroupId": "sg-069061f2e220dc537",
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                 "UserIdGroupPairs": [{"GroupId": "sg-0388f66fc2749914a"}], "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}
            ]
        }]))
        .unwrap();
        let function = vec!["sg-0ff9d7cad5283b9f9".to_string()];
        assert!(!endpoint_admits(&groups, &function, Some("10.0.0.0/16")));
        assert!(endpoint_admits(&groups, &["sg-0388f66fc2749914a".to_string()], None));
        assert!(endpoint_admits(&groups, &function, Some("10.9.0.0/16")));
    }
}
