//! Helpers for the lambda-deploy tests: a real moto server per test (killed on drop, also when
//! the test panics), the real aws CLI to seed and inspect it, a repository copy with a
//! prebuilt artifact (built once per test run by the real xtask), and a health endpoint.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{run, RepoCopy};

pub const ENV: &str = "staging";
pub const STACK: &str = "credmate-backend-staging";
pub const BUCKET: &str = "credmate-sam-artifacts-staging";
pub const REGION: &str = "us-east-1";
pub const MOTO_ACCOUNT: &str = "123456789012";
const FUNCTION_DIR: &str = "infra/lambda/functions/backend";

/// An executable on PATH, else in the xtask's tool cache (where it installs what is missing).
pub fn tool(executable: &str, cached_venv: &str) -> PathBuf {
    if let Some(found) = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(executable)).find(|p| p.is_file()))
    {
        return found;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cached = Path::new(&home).join(".cache/lambda-xtask/tools").join(cached_venv).join("bin").join(executable);
    assert!(
        cached.is_file(),
        "{executable} is neither on PATH nor in the tool cache: `cargo xtask lambda-deploy --env local` installs it"
    );
    cached
}

pub fn aws_cli() -> PathBuf {
    tool("aws", "awscli-1.45.11")
}

/// A moto server on a free loopback port, for one test.
pub struct Moto {
    child: Child,
    pub port: u16,
    /// The real aws CLI pointed at this server, through the library's `Aws`: one Python
    /// process answers all of a test's calls (see `lambda_xtask::aws::driver`).
    aws: lambda_xtask::aws::Aws,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        use std::os::unix::process::CommandExt;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let mut command = Command::new(tool("moto_server", "moto[server]-5.2.1"));
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; a killed test run leaves no server behind.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting moto_server");
        let mut aws = lambda_xtask::aws::Aws::new(aws_cli(), REGION.to_string(), None);
        for (key, value) in Moto::environment(port) {
            aws.set_env(key, value);
        }
        for key in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"] {
            aws.remove_env(key);
        }
        let mut moto = Moto { child, port, aws };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(moto.child.try_wait().unwrap().is_none(), "moto_server exited at start");
            assert!(Instant::now() < deadline, "moto_server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// The variables that point aws, sam and the xtask at the server on `port`.
    fn environment(port: u16) -> [(&'static str, String); 9] {
        [
            ("AWS_ENDPOINT_URL", format!("http://localhost:{port}")),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("SAM_CLI_POLL_DELAY", "1".into()),
            ("SAM_CLI_TELEMETRY", "0".into()),
        ]
    }

    /// The environment that points aws, sam and the xtask at this server.
    pub fn apply(&self, command: &mut Command) {
        command
            .envs(Moto::environment(self.port))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_REGION");
    }

    /// Runs the real aws CLI against this server: its JSON answer, or its error (the exit
    /// status and the last lines of its stderr).
    pub fn try_aws(&self, args: &[&str]) -> Result<Value, String> {
        let sh = xshell::Shell::new().unwrap();
        let text = self.aws.write(&sh, args, &format!("aws {}", args.join(" "))).map_err(|err| format!("{err:#}"))?;
        Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub fn aws(&self, args: &[&str]) -> Value {
        self.try_aws(args).unwrap_or_else(|err| panic!("aws {}: {err}", args.join(" ")))
    }

    /// The stack, or `None` when it does not exist.
    pub fn stack(&self, name: &str) -> Option<Value> {
        match self.try_aws(&["cloudformation", "describe-stacks", "--stack-name", name]) {
            Ok(answer) => Some(answer["Stacks"][0].clone()),
            Err(err) if err.contains("does not exist") => None,
            Err(err) => panic!("describe-stacks: {err}"),
        }
    }

    /// Everything a deploy would change about the stack, to compare before and after.
    pub fn stack_snapshot(&self, name: &str) -> (Option<Value>, usize) {
        let change_sets = match self.try_aws(&["cloudformation", "list-change-sets", "--stack-name", name]) {
            Ok(answer) => answer["Summaries"].as_array().map(Vec::len).unwrap_or(0),
            Err(_) => 0,
        };
        (self.stack(name), change_sets)
    }
}

/// A moto holding what an app's last rehearsal left, as `lambda-doctor --env local` makes
/// one: the rehearsal's recorded requests replayed, with the extension the rehearsal's moto
/// loaded. `sam_dir` is the template's directory.
pub fn replayed_rehearsal(sam_dir: &Path) -> Moto {
    let work = sam_dir.join(".aws-sam/xtask-rehearsal");
    let extension = work.join("moto-extension");
    let recording = work.join("moto-recording.jsonl");
    assert!(recording.is_file(), "no recording of the rehearsal at {}", recording.display());
    let moto = Moto::start_with(&[
        ("PYTHONPATH", extension.to_str().unwrap()),
        ("MOTO_RECORDER_FILEPATH", recording.to_str().unwrap()),
        ("NO_PROXY", "localhost,127.0.0.1"),
    ]);
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, moto.port)).unwrap();
    write!(stream, "POST /moto-api/recorder/replay-recording HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"), "replay: {answer}");
    moto
}

impl Drop for Moto {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server's own process group.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The function's VPC as an account would have it, plus the artifact bucket and secrets.
pub struct Account {
    pub vpc: String,
    pub vpc_cidr: String,
    pub subnets: Vec<String>,
    pub database_secret: String,
    pub jwt_secret: String,
}

pub fn seed_account(moto: &Moto) -> Account {
    let vpc_cidr = "10.20.0.0/16".to_string();
    let vpc = moto.aws(&["ec2", "create-vpc", "--cidr-block", &vpc_cidr])["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let subnets = ["10.20.1.0/24", "10.20.2.0/24"]
        .iter()
        .map(|cidr| {
            moto.aws(&["ec2", "create-subnet", "--vpc-id", &vpc, "--cidr-block", cidr])["Subnet"]["SubnetId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    moto.aws(&["s3api", "create-bucket", "--bucket", BUCKET]);
    let database_secret = create_secret(moto, "credmate/staging/database", "db-password-not-printed");
    let jwt_secret = create_secret(moto, "credmate/staging/jwt", "jwt-key-not-printed");
    Account { vpc, vpc_cidr, subnets, database_secret, jwt_secret }
}

pub fn create_secret(moto: &Moto, name: &str, value: &str) -> String {
    moto.aws(&["secretsmanager", "create-secret", "--name", name, "--secret-string", value])["ARN"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An existing Secrets Manager endpoint in the VPC, with a security group whose only
/// ingress is `ingress_cidr` on 443 (or none): the seed's brownfield VPC.
pub fn existing_endpoint(moto: &Moto, account: &Account, ingress_cidr: Option<&str>) -> (String, String) {
    let group = moto.aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        "vpc-endpoint",
        "--description",
        "Terraform-managed endpoint group",
        "--vpc-id",
        &account.vpc,
    ])["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    if let Some(cidr) = ingress_cidr {
        moto.aws(&[
            "ec2",
            "authorize-security-group-ingress",
            "--group-id",
            &group,
            "--protocol",
            "tcp",
            "--port",
            "443",
            "--cidr",
            cidr,
        ]);
    }
    let service = format!("com.amazonaws.{REGION}.secretsmanager");
    let mut args = vec![
        "ec2",
        "create-vpc-endpoint",
        "--vpc-id",
        &account.vpc,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        &service,
        "--security-group-ids",
        &group,
        "--subnet-ids",
    ];
    args.extend(account.subnets.iter().map(String::as_str));
    let endpoint = moto.aws(&args)["VpcEndpoint"]["VpcEndpointId"].as_str().unwrap().to_string();
    (endpoint, group)
}

/// The SAM CLI the xtask uses: on PATH, else in the tool cache (where the shared build put it).
pub fn real_sam() -> PathBuf {
    prebuilt();
    if let Ok(out) = Command::new("sh").args(["-c", "command -v sam"]).output() {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !path.is_empty() {
            return PathBuf::from(path);
        }
    }
    let cache = std::env::var_os("LAMBDA_XTASK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| Path::new(&d).join("lambda-xtask")))
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/lambda-xtask"));
    cache.join("tools/aws-sam-cli-1.170.0/bin/sam")
}

/// The artifact, built once per test run by the real xtask (`lambda-build --container never`).
fn prebuilt() -> &'static Path {
    static PREBUILT: OnceLock<PathBuf> = OnceLock::new();
    PREBUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lambda-deploy-prebuilt");
        let _ = fs::remove_dir_all(&dir);
        let repo = RepoCopy::new();
        let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
        assert_eq!(status, 0, "the shared build failed:\n{output}");
        copy_tree(&repo.path(&format!("{FUNCTION_DIR}/src")), &dir.join("src"));
        // SAM's own cache comes along, so that a build in each test's repo is incremental.
        copy_tree(&repo.path("infra/lambda/.aws-sam"), &dir.join("aws-sam"));
        dir
    })
}

/// A copy of the repository with the prebuilt artifact in place (newer than its inputs, so
/// `--skip-build` reuses it), the staging environment added, all committed to git.
pub fn staging_repo(account: &Account, settings: &str, extra_overrides: &[&str]) -> RepoCopy {
    let repo = RepoCopy::new();
    let prebuilt = prebuilt();
    // The copied source first: creating it touches the function dir, an input of the build.
    copy_tree(&prebuilt.join("src"), &repo.path(&format!("{FUNCTION_DIR}/src")));
    let mut overrides = vec![
        "Environment=dev".to_string(),
        format!("VpcId={}", account.vpc),
        format!("SubnetIds={}", account.subnets.join(",")),
        format!("DatabaseSecretArn={}", account.database_secret),
        format!("JwtSecretArn={}", account.jwt_secret),
    ];
    overrides.extend(extra_overrides.iter().map(|o| o.to_string()));
    let listed: Vec<String> = overrides.iter().map(|o| format!("  {o:?},")).collect();
    let samconfig = repo.path("infra/lambda/samconfig.toml");
    let mut text = fs::read_to_string(&samconfig).unwrap();
    text.push_str(&format!(
        "\n[{ENV}.deploy.parameters]\nstack_name = \"{STACK}\"\nregion = \"{REGION}\"\ncapabilities = \"CAPABILITY_IAM\"\ns3_bucket = \"{BUCKET}\"\ns3_prefix = \"{STACK}\"\nparameter_overrides = [\n{}\n]\n",
        listed.join("\n")
    ));
    fs::write(&samconfig, text).unwrap();
    let manifest = repo.path("Cargo.toml");
    // A hung sam fails the test in minutes, not after the default 45.
    let mut text = fs::read_to_string(&manifest).unwrap().replacen(
        "sam_cli_version = ",
        "sam_timeout_minutes = 5\nsam_cli_version = ",
        1,
    );
    text.push_str(&format!("\n[workspace.metadata.lambda.deploy.environments.{ENV}]\n{settings}\n"));
    fs::write(&manifest, text).unwrap();
    git_commit(&repo);
    // Build in this repo, on top of the shared build's SAM cache: sam's incremental build takes
    // a second or two, and the xtask's manifest then proves the output current, so
    // `--skip-build` reuses it.
    copy_tree(&prebuilt.join("aws-sam"), &repo.path("infra/lambda/.aws-sam"));
    let _ = fs::remove_file(repo.path("infra/lambda/.aws-sam/xtask.lock"));
    let (status, output) = run(repo.xtask().arg("lambda-build"));
    assert_eq!(status, 0, "the test repo's build failed:\n{output}");
    repo
}

pub fn git_commit(repo: &RepoCopy) {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "test"],
    ] {
        let status = Command::new("git").args(args).current_dir(repo.dir.path()).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }
}

/// Commits the named files, and nothing else of the working tree.
pub fn git_commit_paths(repo: &RepoCopy, paths: &[&str]) {
    let add: Vec<&str> = ["add", "--"].into_iter().chain(paths.iter().copied()).collect();
    for args in [&add[..], &["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "test"]] {
        let status = Command::new("git").args(args).current_dir(repo.dir.path()).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }
}

pub fn head_commit(repo: &RepoCopy) -> String {
    let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo.dir.path()).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The deploy command for the staging environment against `moto`, health-checked on `health`.
pub fn deploy_command(repo: &RepoCopy, moto: &Moto, health: &HealthServer) -> Command {
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", ENV, "--skip-build", "--health-url", &health.url()]);
    moto.apply(&mut command);
    command
}

/// Each attempt's final audit line, parsed: the `started` line an attempt writes before sam
/// deploy is left out (see [`all_audit_lines`]).
pub fn audit_lines(repo: &RepoCopy) -> Vec<Value> {
    all_audit_lines(repo).into_iter().filter(|line| line["result"] != "started").collect()
}

/// Every line of the audit log, parsed, `started` lines included.
pub fn all_audit_lines(repo: &RepoCopy) -> Vec<Value> {
    match fs::read_to_string(repo.path("deploy-log.jsonl")) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).expect("audit line is JSON")).collect(),
        Err(_) => Vec::new(),
    }
}

/// An HTTP server answering every request with `status` and `body`, counting requests.
pub struct HealthServer {
    port: u16,
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HealthServer {
    pub fn healthy() -> HealthServer {
        HealthServer::answering(200, r#"{"status":"healthy","mode":"lazy"}"#)
    }

    pub fn answering(status: u16, body: &'static str) -> HealthServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (hits_seen, stopping) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = stream.read(&mut request);
                hits_seen.fetch_add(1, Ordering::SeqCst);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        HealthServer { port, hits, stop, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
