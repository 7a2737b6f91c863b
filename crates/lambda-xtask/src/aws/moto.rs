//! The local rehearsal's AWS: a moto server on a free loopback port, seeded with what the
//! environment names, stopped when the deploy ends however it ends (the guard's `Drop`, also
//! after Ctrl-C; on Linux the kernel also stops it if the xtask itself is killed).

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use xshell::Shell;

use crate::aws::Aws;
use crate::project::samconfig::SamEnvironment;
use crate::project::stack_template::{EXISTING_ENDPOINT_PARAMETER, SUBNET_IDS_TYPE, VPC_ID_TYPE};
use crate::project::template::Template;
use crate::sys::process;
use crate::sys::redact;
use crate::sys::tools::{self, PythonTool};

/// moto answers within a second or two; a first start after an install compiles bytecode.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub fn locate(sh: &Shell, version: &str) -> Result<PathBuf> {
    let (path, _) = tools::locate(sh, &PythonTool::moto_server(version)).context("finding moto_server")?;
    Ok(path)
}

/// A running moto server; stopped on drop.
pub struct MotoServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto on a free port of 127.0.0.1, its output in `log`. `account_id` sets the
    /// account moto pretends to be (its default is 123456789012).
    pub fn start(executable: &Path, log: &Path, account_id: Option<&str>) -> Result<MotoServer> {
        let mut last_error = None;
        // A port found free can be taken before moto binds it; a few tries settle that race.
        for _ in 0..3 {
            let port = free_port()?;
            let mut server = spawn(executable, port, log, account_id)?;
            match server.wait_until_ready() {
                Ok(()) => return Ok(server),
                Err(err) => {
                    eprintln!("    moto_server on port {port}: {err:#}; trying another port");
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("moto_server did not start")))
    }

    /// `http://localhost:PORT`: moto finds the bucket in a change set's TemplateURL only when
    /// the host is `localhost`, so 127.0.0.1 would fail the change set with NoSuchBucket.
    pub fn endpoint_url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        loop {
            process::check_interrupted()?;
            if let Some(status) = self.child.try_wait().context("waiting for moto_server")? {
                bail!("moto_server exited with {status} before answering: {}", self.log_tail());
            }
            if TcpStream::connect_timeout(&address.into(), Duration::from_millis(200)).is_ok() {
                // Something answers; it must be this moto, not a process that took the port
                // first (moto then logs "Address already in use" and the calls would go to
                // the other process).
                match crate::sys::listener::listener_group(self.port) {
                    Some(group) if group == self.child.id() as i32 => return Ok(()),
                    Some(_) | None => bail!(
                        "port {} is answered by another process, not the moto_server started on it: {}",
                        self.port,
                        self.log_tail()
                    ),
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "moto_server did not answer on port {} within {}s: {}",
                    self.port,
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = crate::sys::beneath::open_regular(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        redact::scrub(&lines[lines.len().saturating_sub(3)..].join(" | "))
    }

    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let group = self.child.id() as i32;
        // SAFETY: kill(2) on the server's own process group; no memory is touched.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
        eprintln!("    local AWS (moto) on port {} stopped", self.port);
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr().context("reading the free port")?.port())
}

fn spawn(executable: &Path, port: u16, log: &Path, account_id: Option<&str>) -> Result<MotoServer> {
    use std::os::unix::process::CommandExt;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().with_context(|| format!("opening {}", log.display()))?;
    let mut command = Command::new(executable);
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own group: a Ctrl-C reaches the xtask, which stops moto after the audit record.
        .process_group(0);
    // moto calls no AWS, but nothing of the user's AWS settings or credentials goes to a child
    // of the rehearsal that does not need it.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("AWS_")) {
            command.env_remove(&name);
        }
    }
    if let Some(account) = account_id {
        command.env("MOTO_ACCOUNT_ID", account);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; it asks the kernel to stop moto if the xtask dies
    // without running its destructors (SIGKILL), so no server is left behind.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command.spawn().with_context(|| format!("starting {}", executable.display()))?;
    Ok(MotoServer { child, port, log: log.to_path_buf() })
}

/// What the seed created that the deploy passes to the stack.
#[derive(Debug, Default)]
pub struct Seeded {
    pub overrides: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedVpc {
    vpc: VpcId,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VpcId {
    vpc_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedSubnet {
    subnet: SubnetId,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubnetId {
    subnet_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedGroup {
    group_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedEndpoint {
    vpc_endpoint: EndpointId,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointId {
    vpc_endpoint_id: String,
}

pub const REHEARSAL_VPC_CIDR: &str = "10.0.0.0/16";

/// What the rehearsal creates before the deploy: only what the template refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    /// A VPC with two subnets: a function has a VpcConfig, or a parameter takes a VPC or
    /// subnets.
    pub vpc: bool,
    /// An existing Secrets Manager endpoint in that VPC: the template looks one up (the
    /// ExistingSecretsManagerVpcEndpoint parameter), as in the seed's brownfield VPC.
    pub endpoint: bool,
}

impl SeedPlan {
    pub fn for_template(template: &Template) -> SeedPlan {
        let vpc = template.uses_vpc
            || template.parameter_of_type(VPC_ID_TYPE).is_some()
            || template.parameter_of_type(SUBNET_IDS_TYPE).is_some();
        let endpoint = vpc && template.parameter(EXISTING_ENDPOINT_PARAMETER).is_some();
        SeedPlan { vpc, endpoint }
    }
}

/// Creates what the environment names, as the real account would already have it: the
/// artifact bucket; where the template refers to them, a VPC with two subnets and a Secrets
/// Manager interface endpoint of its own (the seed's brownfield VPC) whose group admits 443
/// from the VPC; and each secret with a random value that is registered for redaction and
/// never printed.
pub fn seed(
    sh: &Shell,
    aws: &Aws,
    env: &SamEnvironment,
    template: &Template,
    secret_names: &[String],
) -> Result<Seeded> {
    let region = aws.region.as_str();
    let mut seeded = Seeded::default();
    if let Some(bucket) = &env.s3_bucket {
        let mut args = vec!["s3api", "create-bucket", "--bucket", bucket];
        let constraint = format!("LocationConstraint={region}");
        if region != "us-east-1" {
            args.extend(["--create-bucket-configuration", &constraint]);
        }
        aws.write(sh, &args, "aws s3api create-bucket")?;
        eprintln!("    bucket {bucket}");
    }
    let plan = SeedPlan::for_template(template);
    if plan.vpc {
        seed_vpc(sh, aws, template, plan.endpoint, &mut seeded)?;
    } else {
        eprintln!("    no VPC: the template has no VpcConfig and no VPC or subnet parameter");
    }
    seed_secrets(sh, aws, secret_names)?;
    Ok(seeded)
}

fn seed_vpc(sh: &Shell, aws: &Aws, template: &Template, with_endpoint: bool, seeded: &mut Seeded) -> Result<()> {
    let region = aws.region.as_str();
    let vpc: CreatedVpc =
        parse(aws.write(sh, &["ec2", "create-vpc", "--cidr-block", REHEARSAL_VPC_CIDR], "aws ec2 create-vpc")?)?;
    let vpc = vpc.vpc.vpc_id;
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.0.1.0/24", "a"), ("10.0.2.0/24", "b")] {
        let zone = format!("{region}{zone}");
        let subnet: CreatedSubnet = parse(aws.write(
            sh,
            &["ec2", "create-subnet", "--vpc-id", &vpc, "--cidr-block", cidr, "--availability-zone", &zone],
            "aws ec2 create-subnet",
        )?)?;
        subnets.push(subnet.subnet.subnet_id);
    }
    eprintln!("    vpc {vpc} ({REHEARSAL_VPC_CIDR}), subnets {}", subnets.join(", "));
    if let Some(param) = template.parameter_of_type(VPC_ID_TYPE) {
        seeded.overrides.push((param.name.clone(), vpc.clone()));
    }
    if let Some(param) = template.parameter_of_type(SUBNET_IDS_TYPE) {
        seeded.overrides.push((param.name.clone(), subnets.join(",")));
    }
    if !with_endpoint {
        return Ok(());
    }

    let group: CreatedGroup = parse(aws.write(
        sh,
        &[
            "ec2",
            "create-security-group",
            "--group-name",
            "secretsmanager-endpoint",
            "--description",
            "Existing Secrets Manager endpoint (rehearsal)",
            "--vpc-id",
            &vpc,
        ],
        "aws ec2 create-security-group",
    )?)?;
    aws.write(
        sh,
        &[
            "ec2",
            "authorize-security-group-ingress",
            "--group-id",
            &group.group_id,
            "--protocol",
            "tcp",
            "--port",
            "443",
            "--cidr",
            REHEARSAL_VPC_CIDR,
        ],
        "aws ec2 authorize-security-group-ingress",
    )?;
    let service = format!("com.amazonaws.{region}.secretsmanager");
    let mut args = vec![
        "ec2",
        "create-vpc-endpoint",
        "--vpc-id",
        &vpc,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        &service,
        "--security-group-ids",
        &group.group_id,
        "--subnet-ids",
    ];
    args.extend(subnets.iter().map(String::as_str));
    let endpoint: CreatedEndpoint = parse(aws.write(sh, &args, "aws ec2 create-vpc-endpoint")?)?;
    eprintln!(
        "    existing Secrets Manager endpoint {} (security group {} admits 443 from {REHEARSAL_VPC_CIDR})",
        endpoint.vpc_endpoint.vpc_endpoint_id, group.group_id
    );
    Ok(())
}

fn seed_secrets(sh: &Shell, aws: &Aws, secret_names: &[String]) -> Result<()> {
    for name in secret_names {
        let value = random_secret()?;
        redact::register(&value);
        aws.write(
            sh,
            &["secretsmanager", "create-secret", "--name", name, "--secret-string", &value],
            "aws secretsmanager create-secret",
        )?;
        eprintln!("    secret {name} (random value, never printed)");
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(text: String) -> Result<T> {
    crate::aws::parse_json(&text, "the local AWS")
}

fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 24];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a rehearsal secret")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_template_refers_to_is_seeded() {
        let plain = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: app.h}\n",
            "t",
        )
        .unwrap();
        assert_eq!(SeedPlan::for_template(&plain), SeedPlan { vpc: false, endpoint: false });
        let vpc = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      VpcConfig: {SubnetIds: [subnet-1]}\n",
            "t",
        )
        .unwrap();
        assert_eq!(SeedPlan::for_template(&vpc), SeedPlan { vpc: true, endpoint: false });
        let sample = Template::parse(
            &format!("Parameters:\n  V: {{Type: '{VPC_ID_TYPE}'}}\n  {EXISTING_ENDPOINT_PARAMETER}: {{Type: String, Default: ''}}\nResources: {{}}\n"),
            "t",
        )
        .unwrap();
        assert_eq!(SeedPlan::for_template(&sample), SeedPlan { vpc: true, endpoint: true });
    }
}
