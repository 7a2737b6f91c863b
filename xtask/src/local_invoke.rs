//! Invokes a built function's handler locally, the way API Gateway would: the artifact's
//! directory first on `sys.path`, no site-packages of the host (`-I -S`, so only what the
//! artifact ships can be imported), an API Gateway proxy event for one GET request.
//!
//! The local rehearsal's health check uses it (moto runs no Lambda and has no API).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::process;

const MARKER: &str = "XTASK-INVOKE-RESPONSE ";

/// Builds a REST API (v1) proxy event, imports the handler and prints its response on one
/// line after a marker (the app may print its own lines before it).
const INVOKE_SCRIPT: &str = r#"
import importlib, json, sys
artifact, module, attribute, path = sys.argv[1:5]
sys.path.insert(0, artifact)
handler = getattr(importlib.import_module(module), attribute)
headers = {"Host": "localhost", "Accept": "application/json"}
event = {
    "resource": "/{proxy+}", "path": path, "httpMethod": "GET",
    "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
    "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "GET", "path": "/Prod" + path,
                       "stage": "Prod", "requestId": "xtask-local-invoke", "identity": {"sourceIp": "127.0.0.1"}},
    "body": None, "isBase64Encoded": False,
}
class Context:
    function_name = "xtask-local-invoke"
    aws_request_id = "xtask-local-invoke"
    memory_limit_in_mb = 1024
    def get_remaining_time_in_millis(self):
        return 30000
response = handler(event, Context())
print("XTASK-INVOKE-RESPONSE " + json.dumps(response))
"#;

#[derive(Debug, Deserialize)]
pub struct InvokeResponse {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    #[serde(default)]
    pub body: Option<String>,
}

/// What to invoke: the built function's directory and its handler, split into module and
/// attribute (`handler.handler` → `handler`, `handler`).
pub struct LocalFunction<'a> {
    pub python: &'a Path,
    pub artifact: &'a Path,
    pub module: &'a str,
    pub attribute: &'a str,
}

/// Sends one GET through the handler and returns its response.
pub fn invoke_get(sh: &Shell, function: &LocalFunction, path: &str, timeout: Duration) -> Result<InvokeResponse> {
    let LocalFunction { python, artifact, module, attribute } = function;
    let out = process::capture(
        cmd!(sh, "{python} -I -S -c {INVOKE_SCRIPT} {artifact} {module} {attribute} {path}"),
        "local invoke",
        Some(timeout),
    )
    .with_context(|| format!("invoking {module}.{attribute} from {} with GET {path}", artifact.display()))?;
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(MARKER))
        .ok_or_else(|| anyhow!("the handler printed no response for GET {path}"))?;
    serde_json::from_str(line)
        .with_context(|| format!("the handler's response to GET {path} is not a Lambda proxy response"))
}

/// GET /health through the handler must answer 200 with `{"status": "healthy"}`.
pub fn check_health(sh: &Shell, function: &LocalFunction, timeout: Duration) -> Result<String> {
    let response = invoke_get(sh, function, "/health", timeout)?;
    let body = response.body.unwrap_or_default();
    if response.status_code != 200 || !is_healthy(&body) {
        bail!(
            "GET /health through the handler answered {} {body:?}, not {{\"status\": \"healthy\"}}",
            response.status_code
        )
    }
    Ok(body)
}

/// A body of the form `{"status": "healthy", ...}`.
pub fn is_healthy(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v["status"] == "healthy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invokes_a_handler_with_an_api_gateway_event() {
        let Ok(python) = which::which("python3") else { return };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("app.py"),
            "import json\ndef handler(event, context):\n    print('noise')\n    ok = event['path'] == '/health' and event['httpMethod'] == 'GET'\n    return {'statusCode': 200 if ok else 404, 'body': json.dumps({'status': 'healthy'})}\n",
        )
        .unwrap();
        let sh = Shell::new().unwrap();
        let function = LocalFunction { python: &python, artifact: dir.path(), module: "app", attribute: "handler" };
        let body = check_health(&sh, &function, Duration::from_secs(30)).unwrap();
        assert!(is_healthy(&body));
    }

    #[test]
    fn an_import_error_is_reported() {
        let Ok(python) = which::which("python3") else { return };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), "from src.lazy_app import app\n").unwrap();
        let sh = Shell::new().unwrap();
        let function = LocalFunction { python: &python, artifact: dir.path(), module: "app", attribute: "handler" };
        let err = check_health(&sh, &function, Duration::from_secs(30)).unwrap_err();
        assert!(format!("{err:#}").contains("No module named 'src'"), "{err:#}");
    }
}
