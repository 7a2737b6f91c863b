//! Every AWS call goes through the `aws` CLI (found on PATH or installed pinned into the tool
//! cache), with `--output json` parsed by serde and the region (and profile) of the environment
//! passed explicitly, so the checks look at the very account and region sam deploys into.
//! AWS_PROFILE, AWS_REGION and AWS_ENDPOINT_URL from the environment are honoured.
//!
//! Read-only calls retry throttling and connection errors with exponential backoff, a bounded
//! number of times; calls that change something never retry.

pub mod driver;
pub mod moto;
pub mod stack;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::sys::exit::{status_of, INTERRUPTED};
use crate::sys::process;
use crate::sys::redact;

/// One aws call that has not answered in two minutes is stuck.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Markers of errors worth another try: throttling and connection trouble. Anything else
/// (access denied, not found, validation) fails at once.
const RETRYABLE: [&str; 14] = [
    "Throttling",
    "Rate exceeded",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
    "Could not connect to the endpoint URL",
    "Connection was closed",
    "Connection reset",
    "Read timeout on endpoint",
    "Connect timeout on endpoint",
    "ServiceUnavailable",
    "InternalFailure",
    "did not finish within",
];

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    /// How a wait between attempts is spent: a sleep that Ctrl-C cuts short, as shipped; a test
    /// records the waits instead of sleeping them.
    pub wait: fn(Duration) -> Result<()>,
}

impl RetryPolicy {
    /// The waits between attempts, in order: the first delay, doubling (1, 2, 4 s as shipped).
    pub fn delays(&self) -> Vec<Duration> {
        (0..self.attempts.saturating_sub(1)).map(|n| self.first_delay * 2u32.pow(n)).collect()
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { attempts: 4, first_delay: Duration::from_secs(1), wait: sleep_unless_interrupted }
    }
}

/// The `aws` executable with the environment's region, profile and process environment.
#[derive(Debug, Clone)]
pub struct Aws {
    executable: PathBuf,
    pub region: String,
    pub profile: Option<String>,
    /// Variables set for aws and sam (the rehearsal's endpoint and dummy credentials).
    env: Vec<(String, OsString)>,
    /// Variables removed for aws and sam (the rehearsal drops the user's real credentials).
    env_removed: Vec<String>,
    pub retry: RetryPolicy,
    /// awscli v1 kept running for the run's calls (see [`driver`]).
    driver: driver::SharedDriver,
}

impl Aws {
    pub fn new(executable: PathBuf, region: String, profile: Option<String>) -> Aws {
        Aws {
            executable,
            region,
            profile,
            env: Vec::new(),
            env_removed: Vec::new(),
            retry: RetryPolicy::default(),
            driver: driver::SharedDriver::default(),
        }
    }

    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.env.retain(|(k, _)| k != key);
        self.env_removed.retain(|k| k != key);
        self.env.push((key.to_string(), value.into()));
    }

    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env_removed.push(key.to_string());
    }

    /// Applies this environment to another command (sam deploy talks to the same AWS).
    pub fn apply_env<'a>(&self, mut command: xshell::Cmd<'a>) -> xshell::Cmd<'a> {
        for key in &self.env_removed {
            command = command.env_remove(key);
        }
        for (key, value) in &self.env {
            command = command.env(key, value);
        }
        command
    }

    fn command<'a>(&self, sh: &'a Shell, args: &[&str]) -> xshell::Cmd<'a> {
        let executable = &self.executable;
        let args = self.full_args(args);
        let command = cmd!(sh, "{executable} {args...}")
            // aws v2 pages long output through `less`; nothing here reads a pager.
            .env("AWS_PAGER", "");
        self.apply_env(command)
    }

    /// The call's arguments with the output format, region and profile every call names.
    fn full_args(&self, args: &[&str]) -> Vec<String> {
        let mut full: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        full.extend(["--output".into(), "json".into(), "--region".into(), self.region.clone()]);
        if let Some(profile) = &self.profile {
            full.extend(["--profile".into(), profile.clone()]);
        }
        full
    }

    /// Runs one call and returns its standard output: through the driver when it can take the
    /// call, else as an `aws` process; either way a failure reads the same.
    fn call(&self, sh: &Shell, args: &[&str], what: &str) -> Result<String> {
        let call = driver::Call {
            executable: &self.executable,
            args: self.full_args(args),
            set: &self.env,
            removed: &self.env_removed,
            cwd: &sh.current_dir(),
            what,
            timeout: CALL_TIMEOUT,
        };
        match self.driver.call(&call) {
            Some(answer) => {
                let answer = answer?;
                process::check_exit_code(answer.rc, what, answer.err.trim())?;
                Ok(answer.out)
            }
            None => process::capture(self.command(sh, args), what, Some(CALL_TIMEOUT)),
        }
    }

    /// The command line a user would type, for fix messages.
    pub fn shown(&self, args: &str) -> String {
        match &self.profile {
            Some(profile) => format!("aws {args} --region {} --profile {profile}", self.region),
            None => format!("aws {args} --region {}", self.region),
        }
    }

    /// A read-only call, retried on throttling and connection errors, its JSON parsed.
    pub fn read<T: DeserializeOwned>(&self, sh: &Shell, args: &[&str], what: &str) -> Result<T> {
        let stdout = self.retrying(what, || self.call(sh, args, what))?;
        parse_json(&stdout, what)
    }

    /// A read-only call whose "does not exist" answer (an error carrying one of `missing`) is
    /// `None` rather than a failure.
    pub fn read_optional<T: DeserializeOwned>(
        &self,
        sh: &Shell,
        args: &[&str],
        what: &str,
        missing: &[&str],
    ) -> Result<Option<T>> {
        match self.read(sh, args, what) {
            Ok(value) => Ok(Some(value)),
            Err(err) if status_of(&err) != INTERRUPTED && missing.iter().any(|m| format!("{err:#}").contains(m)) => {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// A call that changes something: never retried, its output returned unparsed.
    pub fn write(&self, sh: &Shell, args: &[&str], what: &str) -> Result<String> {
        self.call(sh, args, what)
    }

    fn retrying(&self, what: &str, mut call: impl FnMut() -> Result<String>) -> Result<String> {
        let delays = self.retry.delays();
        let mut attempt = 1;
        loop {
            match call() {
                Ok(out) => return Ok(out),
                Err(err) if attempt < self.retry.attempts && is_retryable(&err) => {
                    let delay = delays[attempt as usize - 1];
                    let reason = redact::scrub(&format!("{err:#}"));
                    say!(
                        "    {what}: {}; retrying in {}s (attempt {} of {})",
                        last_part(&reason),
                        delay.as_secs_f64(),
                        attempt + 1,
                        self.retry.attempts
                    );
                    (self.retry.wait)(delay)?;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

fn is_retryable(err: &anyhow::Error) -> bool {
    if status_of(err) == INTERRUPTED {
        return false;
    }
    let text = format!("{err:#}");
    RETRYABLE.iter().any(|marker| text.contains(marker))
}

fn last_part(text: &str) -> &str {
    let text = text.trim();
    let cut = text.char_indices().rev().nth(159).map(|(i, _)| i).unwrap_or(0);
    &text[cut..]
}

/// Sleeps in small slices so Ctrl-C during a backoff stops at once.
pub fn sleep_unless_interrupted(duration: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + duration;
    while std::time::Instant::now() < deadline {
        process::check_interrupted()?;
        std::thread::sleep(Duration::from_millis(50).min(deadline - std::time::Instant::now()));
    }
    process::check_interrupted()
}

pub fn parse_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| {
        let shown: String = redact::scrub(text.trim()).chars().take(200).collect();
        anyhow!("{what} answered with something that is not the JSON expected ({err}): {shown:?}")
    })
}

/// A timestamp as the aws CLI prints it: an ISO string (v2, or v1 for XML services) or epoch
/// seconds (v1 for JSON services such as Secrets Manager).
pub fn timestamp_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .map(|secs| {
                let millis = (secs.max(0.0) * 1000.0).round() as u64;
                crate::sys::time::utc_text(std::time::UNIX_EPOCH + Duration::from_millis(millis))
            })
            .unwrap_or_else(|| n.to_string()),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The aws executable: on PATH, else installed pinned into the tool cache.
pub fn locate(sh: &Shell, version: &str) -> Result<PathBuf> {
    let (path, _) = crate::sys::tools::locate(sh, &crate::sys::tools::PythonTool::aws_cli(version))
        .context("finding the aws CLI")?;
    Ok(path)
}

// The answers read, as the aws CLI prints them. Optional fields default: moto and real AWS
// differ in what they leave out.

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stacks {
    pub stacks: Vec<Stack>,
}

/// One stack of `describe-stacks`: what the deploy's checks and the doctor read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stack {
    #[serde(default)]
    pub stack_name: String,
    pub stack_status: String,
    #[serde(default)]
    pub stack_status_reason: Option<String>,
    #[serde(default)]
    pub parameters: Vec<StackParameter>,
    #[serde(default)]
    pub outputs: Vec<StackOutput>,
}

impl Stack {
    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs.iter().find(|o| o.output_key == key).map(|o| o.output_value.as_str())
    }

    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters.iter().find(|p| p.parameter_key == key).and_then(|p| p.parameter_value.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackParameter {
    pub parameter_key: String,
    #[serde(default)]
    pub parameter_value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackOutput {
    pub output_key: String,
    pub output_value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackResources {
    pub stack_resources: Vec<StackResource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackResource {
    #[serde(default)]
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_type: String,
}

/// `describe-stack-events`, newest first as AWS returns them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackEvents {
    pub stack_events: Vec<StackEvent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackEvent {
    #[serde(default)]
    pub stack_name: String,
    #[serde(default)]
    pub stack_id: Option<String>,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_type: String,
    #[serde(default)]
    pub timestamp: Option<serde_json::Value>,
    pub resource_status: String,
    #[serde(default)]
    pub resource_status_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretDescription {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(default)]
    pub deleted_date: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcEndpoints {
    pub vpc_endpoints: Vec<VpcEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcEndpoint {
    pub vpc_endpoint_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub groups: Vec<GroupRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupRef {
    pub group_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroups {
    pub security_groups: Vec<SecurityGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroup {
    pub group_id: String,
    #[serde(default)]
    pub ip_permissions: Vec<IpPermission>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpPermission {
    pub ip_protocol: String,
    #[serde(default)]
    pub from_port: Option<i64>,
    #[serde(default)]
    pub to_port: Option<i64>,
    #[serde(default)]
    pub user_id_group_pairs: Vec<GroupRef>,
    #[serde(default)]
    pub ip_ranges: Vec<IpRange>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpRange {
    pub cidr_ip: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpcs {
    pub vpcs: Vec<Vpc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpc {
    pub cidr_block: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeSetDescription {
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub execution_status: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    #[serde(default)]
    pub resource_change: Option<ResourceChange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceChange {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub logical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub replacement: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell_aws() -> Aws {
        let mut aws = Aws::new(PathBuf::from("sh"), "us-east-1".into(), None);
        aws.retry = RetryPolicy { attempts: 3, first_delay: Duration::from_millis(10), ..RetryPolicy::default() };
        aws
    }

    /// `sh -c SCRIPT --output json --region ...`: the script sees the rest as $0, $1...
    fn script(dir: &std::path::Path, body: &str) -> String {
        let path = dir.join("fake.sh");
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    }

    #[test]
    fn throttling_is_retried_until_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("count");
        let fake = script(
            dir.path(),
            &format!(
                "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\nif [ $n -lt 3 ]; then echo 'An error occurred (Throttling) when calling the DescribeStacks operation: Rate exceeded' >&2; exit 254; fi\necho '{{\"Account\": \"123456789012\", \"Arn\": \"arn:aws:iam::123456789012:user/a\"}}'\n",
                c = counter.display()
            ),
        );
        let sh = Shell::new().unwrap();
        let identity: CallerIdentity = shell_aws().read(&sh, &[&fake], "aws sts get-caller-identity").unwrap();
        assert_eq!(identity.account, "123456789012");
        assert_eq!(std::fs::read_to_string(counter).unwrap().trim(), "3");
    }

    #[test]
    fn retries_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("count");
        let fake = script(
            dir.path(),
            &format!(
                "echo x >> {c}\necho 'Could not connect to the endpoint URL: \"https://sts.amazonaws.com/\"' >&2; exit 255\n",
                c = counter.display()
            ),
        );
        let sh = Shell::new().unwrap();
        let err = shell_aws().read::<CallerIdentity>(&sh, &[&fake], "aws sts get-caller-identity").unwrap_err();
        assert!(format!("{err:#}").contains("aws sts get-caller-identity exited with status 255"), "{err:#}");
        assert_eq!(std::fs::read_to_string(counter).unwrap().lines().count(), 3);
    }

    #[test]
    fn the_shipped_policy_is_four_attempts_waiting_1_2_4_seconds() {
        let shipped = Aws::new(PathBuf::from("sh"), "us-east-1".into(), None).retry;
        assert_eq!(shipped.attempts, 4);
        assert_eq!(shipped.delays(), [1, 2, 4].map(Duration::from_secs));

        // And it is what a read runs: four calls of a call that never stops throttling.
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("count");
        let fake = script(
            dir.path(),
            &format!(
                "echo x >> {c}\necho 'An error occurred (Throttling): Rate exceeded' >&2; exit 254\n",
                c = counter.display()
            ),
        );
        // The waits are recorded, not slept: the shipped 7 s would be dead time in every test run.
        static WAITED: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());
        fn record(delay: Duration) -> Result<()> {
            WAITED.lock().unwrap().push(delay);
            Ok(())
        }
        let sh = Shell::new().unwrap();
        let mut aws = Aws::new(PathBuf::from("sh"), "us-east-1".into(), None);
        aws.retry.wait = record;
        assert!(aws.read::<CallerIdentity>(&sh, &[&fake], "aws sts").is_err());
        assert_eq!(std::fs::read_to_string(&counter).unwrap().lines().count(), 4);
        assert_eq!(*WAITED.lock().unwrap(), [1, 2, 4].map(Duration::from_secs));
    }

    #[test]
    fn a_call_that_changes_something_is_never_retried() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("count");
        let fake = script(
            dir.path(),
            &format!(
                "echo x >> {c}\necho 'An error occurred (Throttling): Rate exceeded' >&2; exit 254\n",
                c = counter.display()
            ),
        );
        let sh = Shell::new().unwrap();
        let aws = Aws::new(PathBuf::from("sh"), "us-east-1".into(), None);
        assert!(aws.write(&sh, &[&fake], "aws cloudformation delete-stack").is_err());
        assert_eq!(std::fs::read_to_string(&counter).unwrap().lines().count(), 1);
    }

    #[test]
    fn access_denied_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("count");
        let fake = script(
            dir.path(),
            &format!("echo x >> {c}\necho 'An error occurred (AccessDenied)' >&2; exit 254\n", c = counter.display()),
        );
        let sh = Shell::new().unwrap();
        assert!(shell_aws().read::<CallerIdentity>(&sh, &[&fake], "aws sts").is_err());
        assert_eq!(std::fs::read_to_string(counter).unwrap().lines().count(), 1);
    }

    #[test]
    fn garbage_instead_of_json_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let fake = script(dir.path(), "echo '<html>502 Bad Gateway</html>'\n");
        let sh = Shell::new().unwrap();
        let err = shell_aws().read::<CallerIdentity>(&sh, &[&fake], "aws sts get-caller-identity").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("aws sts get-caller-identity answered with something that is not the JSON"), "{text}");
        assert!(text.contains("502 Bad Gateway"), "{text}");
    }

    #[test]
    fn a_secret_in_garbage_instead_of_json_is_redacted_in_the_error() {
        crate::sys::redact::register("json-canary-SECRET-1f2e3d");
        let dir = tempfile::tempdir().unwrap();
        let fake = script(dir.path(), "echo 'SecretString: json-canary-SECRET-1f2e3d (not JSON)'\n");
        let sh = Shell::new().unwrap();
        let err = shell_aws().read::<CallerIdentity>(&sh, &[&fake], "aws secretsmanager").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("SecretString: [redacted] (not JSON)"), "{text}");
        assert!(!text.contains("json-canary-SECRET-1f2e3d"), "{text}");
    }

    #[test]
    fn not_found_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let fake = script(
            dir.path(),
            "echo 'An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id s does not exist' >&2; exit 254\n",
        );
        let sh = Shell::new().unwrap();
        let stacks: Option<Stacks> = shell_aws()
            .read_optional(&sh, &[&fake], "aws cloudformation describe-stacks", &["does not exist"])
            .unwrap();
        assert!(stacks.is_none());
    }

    #[test]
    fn epoch_timestamps_are_shown_in_utc() {
        let value = serde_json::json!(1766612049.059);
        assert_eq!(timestamp_text(&value), "2025-12-24T21:34:09.059Z");
    }
}
