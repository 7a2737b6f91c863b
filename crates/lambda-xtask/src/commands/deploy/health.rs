//! The post-deploy health check of an environment: what `health_check` in its settings says,
//! resolved against the template before anything runs, and how an answer is judged.
//!
//! ```toml
//! [workspace.metadata.lambda.deploy.environments.dev]
//! health_check = { output = "HelloWorldApi", path = "/hello", expect_status = 200, expect_json = { message = "hello world" } }
//! # or: health_check = "off"
//! ```
//!
//! Every key is optional. `output` defaults to the one stack output whose value is an
//! `execute-api` URL (none: no HTTP check; several: name one), `path` to none (the output's URL
//! as is), `expect_status` to any 2xx or 3xx; a 5xx answer always fails. `expect_json` is a
//! subset the JSON body must contain. The rehearsal has no API (moto runs no SAM transform):
//! its check is each function's cold-start smoke test.

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::bad_input;
pub use crate::project::health_check::{ExpectedStatus, HealthCheckSetting, HttpCheck};
use crate::project::template::Template;

/// The check a deploy will run, decided before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedCheck {
    /// `health_check = "off"`.
    Off,
    /// The template has no API URL output and none is configured: nothing to GET.
    NoApi,
    /// The rehearsal: each function's cold-start smoke test.
    SmokeTests,
    /// GET a URL: from `--health-url`, or a stack output (+ path) read after the deploy.
    Http { url: UrlSource, path: Option<String>, expect_status: ExpectedStatus, expect_json: Option<Value> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum UrlSource {
    /// `--health-url`, used as is.
    Given(String),
    /// A stack output, read from the deployed stack.
    Output(String),
}

/// Decides the check: `--health-url` wins, the rehearsal smoke-tests, else the setting with
/// its defaults against the template's outputs. Bad input when it names an output the
/// template lacks, or leaves a choice between several API URLs.
pub fn plan(
    setting: &HealthCheckSetting,
    template: &Template,
    health_url: Option<&str>,
    rehearsal: bool,
    table: &str,
    template_shown: &str,
) -> Result<PlannedCheck> {
    let http = match setting {
        HealthCheckSetting::Off => return Ok(PlannedCheck::Off),
        HealthCheckSetting::Default => HttpCheck::default(),
        HealthCheckSetting::Http(check) => check.clone(),
    };
    let expect = |url: UrlSource, path: Option<String>| PlannedCheck::Http {
        url,
        path,
        expect_status: http.expect_status,
        expect_json: http.expect_json.clone(),
    };
    if let Some(url) = health_url {
        return Ok(expect(UrlSource::Given(url.to_string()), None));
    }
    if rehearsal {
        return Ok(PlannedCheck::SmokeTests);
    }
    if let Some(output) = &http.output {
        if !template.outputs.iter().any(|o| &o.name == output) {
            let known: Vec<&str> = template.outputs.iter().map(|o| o.name.as_str()).collect();
            bad_input!(
                "{table} health_check.output {output:?} is not an output of {template_shown} (it has: {}): name one of them",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        }
        return Ok(expect(UrlSource::Output(output.clone()), http.path.clone()));
    }
    let api: Vec<&str> = template.outputs.iter().filter(|o| o.is_api_url()).map(|o| o.name.as_str()).collect();
    match api.as_slice() {
        [] => Ok(PlannedCheck::NoApi),
        [one] => Ok(expect(UrlSource::Output(one.to_string()), http.path.clone())),
        several => bad_input!(
            "{template_shown} has {} API URL outputs ({}): name the one to health-check with health_check = {{ output = \"{}\" }} in {table}",
            several.len(),
            several.join(", "),
            several[0]
        ),
    }
}

/// `base` with `path` appended, one `/` between them.
pub fn join_url(base: &str, path: Option<&str>) -> String {
    match path {
        None => base.to_string(),
        Some(path) => format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/')),
    }
}

/// Whether `actual` contains `expected`: equal scalars, every key of an object (recursively),
/// and for an array every expected element matched by some element.
pub fn json_contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            expected.iter().all(|(key, value)| actual.get(key).is_some_and(|a| json_contains(a, value)))
        }
        (Value::Array(actual), Value::Array(expected)) => {
            expected.iter().all(|e| actual.iter().any(|a| json_contains(a, e)))
        }
        (Value::Number(a), Value::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

/// Why an answer fails the check, or `None` when it passes.
pub fn judge(status: u16, body: &str, expect_status: ExpectedStatus, expect_json: Option<&Value>) -> Option<String> {
    if !expect_status.accepts(status) {
        let why = if status >= 500 { " (a 5xx always fails)" } else { "" };
        return Some(format!("status {status}, expected {}{why}", expect_status.describe()));
    }
    let expected = expect_json?;
    match serde_json::from_str::<Value>(body) {
        Ok(actual) if json_contains(&actual, expected) => None,
        Ok(_) => Some(format!("the body does not contain {expected}")),
        Err(_) => Some(format!("the body is not JSON, expected it to contain {expected}")),
    }
}

/// The health check as the audit record keeps it: which check ran, on what, with what answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthRecord {
    /// `http`, `smoke-test`, `off` or `none` (no API to check).
    pub check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The stack output the URL came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The last answer: `200 {"message": ...}`, trimmed and scrubbed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The rehearsal's smoke test, per function.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionCheck>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionCheck {
    pub function: String,
    /// What the smoke test reported: what ran, and its answer or finding.
    pub answer: String,
    pub passed: bool,
}

impl HealthRecord {
    pub fn simple(check: &'static str, passed: bool) -> HealthRecord {
        HealthRecord { check, url: None, output: None, expected: None, answer: None, functions: Vec::new(), passed }
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

    fn template(outputs: &str) -> Template {
        Template::parse(&format!("Resources: {{}}\nOutputs:\n{outputs}"), "template.yaml").unwrap()
    }

    const HELLO: &str = "  HelloWorldApi:\n    Value: !Sub \"https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/\"\n  HelloWorldFunction:\n    Value: !GetAtt HelloWorldFunction.Arn\n";

    #[test]
    fn the_default_url_is_the_one_api_output() {
        let check = plan(&HealthCheckSetting::Default, &template(HELLO), None, false, "[env]", "t").unwrap();
        assert_eq!(
            check,
            PlannedCheck::Http {
                url: UrlSource::Output("HelloWorldApi".into()),
                path: None,
                expect_status: ExpectedStatus::SuccessOrRedirect,
                expect_json: None
            }
        );
        let none = template("  Arn:\n    Value: !GetAtt F.Arn\n");
        assert_eq!(plan(&HealthCheckSetting::Default, &none, None, false, "[env]", "t").unwrap(), PlannedCheck::NoApi);
        let two = format!(
            "{HELLO}  Other:\n    Value: !Sub https://${{Api}}.execute-api.${{AWS::Region}}.amazonaws.com/v1\n"
        );
        let err = plan(&HealthCheckSetting::Default, &template(&two), None, false, "[env]", "t").unwrap_err();
        assert!(err.to_string().contains("2 API URL outputs (HelloWorldApi, Other)"), "{err}");
        let named = setting("health_check = { output = \"Missing\" }").unwrap();
        let err = plan(&named, &template(HELLO), None, false, "[env]", "t").unwrap_err();
        assert!(err.to_string().contains("HelloWorldApi, HelloWorldFunction"), "{err}");
    }

    #[test]
    fn the_rehearsal_smoke_tests_and_health_url_wins_and_off_is_off() {
        let t = template(HELLO);
        assert_eq!(plan(&HealthCheckSetting::Default, &t, None, true, "[env]", "t").unwrap(), PlannedCheck::SmokeTests);
        assert!(matches!(
            plan(&HealthCheckSetting::Default, &t, Some("http://x/h"), true, "[env]", "t").unwrap(),
            PlannedCheck::Http { url: UrlSource::Given(_), .. }
        ));
        assert_eq!(
            plan(&HealthCheckSetting::Off, &t, Some("http://x"), false, "[env]", "t").unwrap(),
            PlannedCheck::Off
        );
    }

    #[test]
    fn json_subsets() {
        let body = json!({"status": "healthy", "checks": [{"db": "ok"}, {"cache": "ok"}], "n": 1});
        assert!(json_contains(&body, &json!({"status": "healthy"})));
        assert!(json_contains(&body, &json!({"checks": [{"cache": "ok"}], "n": 1.0})));
        assert!(!json_contains(&body, &json!({"status": "degraded"})));
        assert!(!json_contains(&body, &json!({"missing": null})));
        assert_eq!(
            judge(200, "{\"status\":\"healthy\"}", ExpectedStatus::default(), Some(&json!({"status": "healthy"}))),
            None
        );
        assert!(judge(502, "", ExpectedStatus::Exact(200), None).unwrap().contains("a 5xx always fails"));
        assert!(judge(200, "<html>", ExpectedStatus::default(), Some(&json!({"a": 1}))).unwrap().contains("not JSON"));
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(join_url("https://a/Prod/hello/", None), "https://a/Prod/hello/");
        assert_eq!(join_url("https://a/Prod/", Some("/health")), "https://a/Prod/health");
        assert_eq!(join_url("https://a/Prod", Some("/health")), "https://a/Prod/health");
    }
}
