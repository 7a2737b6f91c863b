//! An environment's `health_check` setting, read and validated with the configuration:
//!
//! ```toml
//! [workspace.metadata.lambda.deploy.environments.dev]
//! health_check = { output = "HelloWorldApi", path = "/hello", expect_status = 200, expect_json = { message = "hello world" } }
//! # or: health_check = "off"
//! ```
//!
//! lambda-deploy decides from it, against the template, which check runs (see its `health`).

use anyhow::Result;
use serde_json::Value;

use crate::bad_input;

/// What an environment's `health_check` setting says, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum HealthCheckSetting {
    /// No `health_check` key: the defaults.
    #[default]
    Default,
    /// `health_check = "off"`.
    Off,
    Http(HttpCheck),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpCheck {
    pub output: Option<String>,
    pub path: Option<String>,
    pub expect_status: ExpectedStatus,
    pub expect_json: Option<Value>,
}

/// The status an answer must have. 5xx never passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpectedStatus {
    /// 200-399.
    #[default]
    SuccessOrRedirect,
    /// `"2xx"`: 200-299, `"3xx"`, `"4xx"`.
    Class(u16),
    Exact(u16),
}

impl ExpectedStatus {
    pub fn accepts(self, status: u16) -> bool {
        if !(100..500).contains(&status) {
            return false;
        }
        match self {
            ExpectedStatus::SuccessOrRedirect => (200..400).contains(&status),
            ExpectedStatus::Class(class) => status / 100 == class,
            ExpectedStatus::Exact(expected) => status == expected,
        }
    }

    pub fn describe(self) -> String {
        match self {
            ExpectedStatus::SuccessOrRedirect => "2xx/3xx".to_string(),
            ExpectedStatus::Class(class) => format!("{class}xx"),
            ExpectedStatus::Exact(status) => status.to_string(),
        }
    }
}

impl HealthCheckSetting {
    /// Reads the TOML value of `health_check` in `table` (named in errors).
    pub fn parse(value: Option<&toml::Value>, table: &str) -> Result<HealthCheckSetting> {
        let Some(value) = value else { return Ok(HealthCheckSetting::Default) };
        let example = "health_check = \"off\", or health_check = { output = \"<stack output>\", path = \"/health\", expect_status = 200, expect_json = { status = \"healthy\" } }";
        let table_value = match value {
            toml::Value::String(s) if s == "off" => return Ok(HealthCheckSetting::Off),
            toml::Value::Table(t) => t,
            other => bad_input!("{table} health_check must be \"off\" or a table, not {other}: {example}"),
        };
        let mut check = HttpCheck::default();
        for (key, value) in table_value {
            match (key.as_str(), value) {
                ("output", toml::Value::String(s)) if !s.is_empty() => check.output = Some(s.clone()),
                ("path", toml::Value::String(s)) if s.starts_with('/') => check.path = Some(s.clone()),
                ("path", _) => bad_input!("{table} health_check.path must be a request path starting with /, like \"/health\""),
                ("expect_status", value) => check.expect_status = parse_status(value, table)?,
                ("expect_json", value) => {
                    check.expect_json = Some(serde_json::to_value(value).map_err(|err| {
                        crate::sys::exit::BadInput::new(format!("{table} health_check.expect_json: {err}"))
                    })?)
                }
                (key, _) => bad_input!(
                    "{table} health_check.{key} is not a setting (or has the wrong type); the settings are output, path, expect_status, expect_json: {example}"
                ),
            }
        }
        Ok(HealthCheckSetting::Http(check))
    }
}

fn parse_status(value: &toml::Value, table: &str) -> Result<ExpectedStatus> {
    let wrong = || {
        format!("{table} health_check.expect_status {value} must be a status below 500 (e.g. 200) or a class \"2xx\", \"3xx\", \"4xx\": a 5xx answer always fails")
    };
    match value {
        toml::Value::Integer(n) if (100..500).contains(n) => Ok(ExpectedStatus::Exact(*n as u16)),
        toml::Value::String(s) => match s.as_str() {
            "2xx" => Ok(ExpectedStatus::Class(2)),
            "3xx" => Ok(ExpectedStatus::Class(3)),
            "4xx" => Ok(ExpectedStatus::Class(4)),
            _ => bad_input!("{}", wrong()),
        },
        _ => bad_input!("{}", wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn setting(text: &str) -> Result<HealthCheckSetting> {
        let table: toml::Table = toml::from_str(text).unwrap();
        HealthCheckSetting::parse(table.get("health_check"), "[env]")
    }

    #[test]
    fn settings_parse_off_a_table_and_refuse_the_rest() {
        assert_eq!(setting("").unwrap(), HealthCheckSetting::Default);
        assert_eq!(setting("health_check = \"off\"").unwrap(), HealthCheckSetting::Off);
        let HealthCheckSetting::Http(check) =
            setting("health_check = { output = \"A\", path = \"/h\", expect_status = \"2xx\", expect_json = { status = \"healthy\" } }")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(check.output.as_deref(), Some("A"));
        assert_eq!(check.expect_status, ExpectedStatus::Class(2));
        assert_eq!(check.expect_json, Some(json!({"status": "healthy"})));
        for bad in [
            "health_check = \"on\"",
            "health_check = { expect_status = 503 }",
            "health_check = { expect_status = \"5xx\" }",
            "health_check = { path = \"health\" }",
            "health_check = { url = \"http://x\" }",
        ] {
            let err = setting(bad).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT, "{bad}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }

    #[test]
    fn statuses_default_to_2xx_3xx_and_5xx_never_passes() {
        let default = ExpectedStatus::default();
        assert!(default.accepts(200) && default.accepts(302) && !default.accepts(404) && !default.accepts(502));
        assert!(ExpectedStatus::Exact(404).accepts(404) && !ExpectedStatus::Exact(404).accepts(200));
        assert!(ExpectedStatus::Class(4).accepts(403));
        assert!(!ExpectedStatus::Class(2).accepts(0));
    }
}
