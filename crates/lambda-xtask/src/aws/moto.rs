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
use crate::project::stack_template::{EXISTING_ENDPOINT_PARAMETER, VPC_ID_TYPE};
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

/// How a rehearsal's moto starts.
pub struct MotoStart<'a> {
    pub executable: &'a Path,
    /// moto's own output.
    pub log: &'a Path,
    /// The account moto pretends to be (its default is 123456789012).
    pub account_id: Option<&'a str>,
    /// `.aws-sam/xtask-rehearsal/`: the gap-filling extension is written there, and moto
    /// lists the stand-ins it created in `stand-ins.jsonl`.
    pub work_dir: &'a Path,
    /// Record every request into this file (the rehearsal), or read the recording to replay
    /// from it (the doctor; see [`MotoServer::replay`]).
    pub recording: Recording<'a>,
}

pub enum Recording<'a> {
    None,
    RecordTo(&'a Path),
    ReplayFrom(&'a Path),
}

/// moto draws its ids (stacks, functions' name suffixes, subnets) from a generator this
/// seeds: the same requests replayed after the same seed make the same ids, so the doctor's
/// replay names what the rehearsal named.
const ID_SEED: u32 = 20_261_207;

impl MotoServer {
    /// Starts moto on a free port of 127.0.0.1, its output in the log, with the extension that
    /// fills moto's CloudFormation gaps loaded.
    pub fn start(options: &MotoStart) -> Result<MotoServer> {
        let extension = write_extension(options.work_dir)?;
        let mut last_error = None;
        // A port found free can be taken before moto binds it; a few tries settle that race.
        for _ in 0..3 {
            let port = free_port()?;
            let mut server = spawn(options, &extension, port)?;
            match server.wait_until_ready() {
                Ok(()) => {
                    if let Recording::RecordTo(_) = options.recording {
                        // Recorded first, so the replay seeds the same way before anything else.
                        server.post(&format!("/moto-api/seed?a={ID_SEED}"), Duration::from_secs(30))?;
                    }
                    return Ok(server);
                }
                Err(err) => {
                    say!("    moto_server on port {port}: {err:#}; trying another port");
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("moto_server did not start")))
    }

    /// Replays the recording it was started with: every request the rehearsal made, in order,
    /// so that this moto holds the state the rehearsal left.
    pub fn replay(&self, timeout: Duration) -> Result<()> {
        self.post("/moto-api/recorder/replay-recording", timeout)
            .with_context(|| format!("replaying the rehearsal's requests into moto (its log: {})", self.log.display()))
    }

    /// A POST to moto's own API, answered 200 or an error with moto's answer.
    fn post(&self, path: &str, timeout: Duration) -> Result<()> {
        use std::io::Write;
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .with_context(|| format!("connecting to moto on port {}", self.port))?;
        stream.set_read_timeout(Some(timeout)).context("setting a read timeout")?;
        write!(stream, "POST {path} HTTP/1.0\r\nHost: localhost:{}\r\nContent-Length: 0\r\n\r\n", self.port)
            .with_context(|| format!("POST {path} to moto"))?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).with_context(|| format!("reading moto's answer to POST {path}"))?;
        let status = answer.split_whitespace().nth(1).unwrap_or_default();
        if status != "200" {
            bail!("moto answered POST {path} with {:?}: {}", status, self.log_tail());
        }
        Ok(())
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
        let group = self.child.id() as i32;
        self.stop_group(group);
        crate::sys::process::server_stopped(group);
    }

    fn stop_group(&mut self, group: i32) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // Interrupted, the run has 2 s in all (see sys::process): no grace for moto, whose
        // state the recording already holds request by request.
        let grace = if crate::sys::process::interrupted() { Duration::ZERO } else { Duration::from_secs(5) };
        // SAFETY: kill(2) on the server's own process group; no memory is touched.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
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
        say!("    local AWS (moto) on port {} stopped", self.port);
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr().context("reading the free port")?.port())
}

/// The extension moto loads at start (see `moto_gaps.py`): a `sitecustomize` module in a
/// directory of its own, put first on moto's PYTHONPATH.
const EXTENSION: &str = include_str!("moto_gaps.py");

fn write_extension(work_dir: &Path) -> Result<PathBuf> {
    let dir = work_dir.join("moto-extension");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::sys::atomic::write_atomically(&dir.join("sitecustomize.py"), EXTENSION)?;
    Ok(dir)
}

/// The stand-ins moto created in place of resources it has no model for (or crashed on).
pub fn stand_ins_file(work_dir: &Path) -> PathBuf {
    work_dir.join("stand-ins.jsonl")
}

/// Written by the extension once moto's gaps are filled: without it (a moto whose internals
/// differ), moto drops a function's architectures and layers.
fn gaps_filled_file(work_dir: &Path) -> PathBuf {
    work_dir.join("moto-gaps-filled.json")
}

pub fn gaps_filled(work_dir: &Path) -> bool {
    gaps_filled_file(work_dir).is_file()
}

/// One resource moto did not create: a stand-in answered its Ref and GetAtt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StandIn {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// moto's own error, when it has a model of the type but crashed creating it.
    #[serde(default)]
    pub moto_error: Option<String>,
    /// A resource moto did create, but from less than the template gives (a layer whose
    /// content it could not read): what was left out and what the rehearsal then proves.
    #[serde(default)]
    pub stand_in: Option<String>,
}

/// The stand-ins listed since the file was emptied (one JSON object a line).
pub fn read_stand_ins(work_dir: &Path) -> Vec<StandIn> {
    let text = crate::sys::beneath::read_to_string(stand_ins_file(work_dir)).unwrap_or_default();
    text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

fn spawn(options: &MotoStart, extension: &Path, port: u16) -> Result<MotoServer> {
    use std::os::unix::process::CommandExt;
    let log = options.log;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().with_context(|| format!("opening {}", log.display()))?;
    let mut command = Command::new(options.executable);
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
        if name.to_str().is_some_and(|n| n.starts_with("AWS_") || n.starts_with("MOTO_")) {
            command.env_remove(&name);
        }
    }
    if let Some(account) = options.account_id {
        command.env("MOTO_ACCOUNT_ID", account);
    }
    let python_path = match std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
        Some(existing) => {
            let mut joined = extension.as_os_str().to_owned();
            joined.push(":");
            joined.push(existing);
            joined
        }
        None => extension.as_os_str().to_owned(),
    };
    command.env("PYTHONPATH", python_path);
    // What the extension writes is about this moto only.
    for stale in [stand_ins_file(options.work_dir), gaps_filled_file(options.work_dir)] {
        crate::sys::owned_dir::remove_if_present(&stale)?;
    }
    command.env("XTASK_MOTO_STANDINS", stand_ins_file(options.work_dir));
    command.env("XTASK_MOTO_GAPS_FILLED", gaps_filled_file(options.work_dir));
    // The replay sends the recorded requests to moto itself, through Python's requests: a
    // proxy of the user's would see them.
    command.env("NO_PROXY", "localhost,127.0.0.1").env("no_proxy", "localhost,127.0.0.1");
    match options.recording {
        Recording::None => {}
        Recording::RecordTo(path) => {
            start_recording_file(path)?;
            command.env("MOTO_ENABLE_RECORDING", "true").env("MOTO_RECORDER_FILEPATH", path);
        }
        Recording::ReplayFrom(path) => {
            command.env("MOTO_RECORDER_FILEPATH", path);
        }
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
    let child = command.spawn().with_context(|| format!("starting {}", options.executable.display()))?;
    crate::sys::process::server_started(child.id() as i32);
    Ok(MotoServer { child, port, log: log.to_path_buf() })
}

/// An empty recording only its owner reads: it holds every request body of the rehearsal,
/// its random secret values among them.
fn start_recording_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::sys::owned_dir::remove_if_present(path)
        .with_context(|| format!("removing the last rehearsal's {}", path.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
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
    /// A VPC with two subnets: a function has a VpcConfig, or a parameter takes a VPC,
    /// subnets or security groups.
    pub vpc: bool,
    /// A security group in that VPC: a parameter takes one.
    pub security_group: bool,
    /// An existing Secrets Manager endpoint in that VPC: the template looks one up (the
    /// ExistingSecretsManagerVpcEndpoint parameter), as in the seed's brownfield VPC.
    pub endpoint: bool,
}

impl SeedPlan {
    pub fn for_template(template: &Template) -> SeedPlan {
        let kinds = || template.parameters.iter().map(|p| list_item(template.parameter_kind(p)));
        let security_group = kinds().any(|k| k == SECURITY_GROUP_ID || k == SECURITY_GROUP_NAME);
        let vpc = template.uses_vpc || security_group || kinds().any(|k| k == VPC_ID_TYPE || k == SUBNET_ID);
        let endpoint = vpc && template.parameter(EXISTING_ENDPOINT_PARAMETER).is_some();
        SeedPlan { vpc, security_group, endpoint }
    }
}

const SUBNET_ID: &str = "AWS::EC2::Subnet::Id";
const SECURITY_GROUP_ID: &str = "AWS::EC2::SecurityGroup::Id";
const SECURITY_GROUP_NAME: &str = "AWS::EC2::SecurityGroup::GroupName";

/// `AWS::EC2::Subnet::Id` for `List<AWS::EC2::Subnet::Id>`; any other type as it is.
fn list_item(kind: &str) -> &str {
    kind.strip_prefix("List<").and_then(|k| k.strip_suffix('>')).unwrap_or(kind)
}

/// A parameter type whose value the rehearsal takes from its own local AWS (a subnet, a
/// security group, a key pair, an SSM parameter it creates): the real account's ids do not
/// exist there, and moto accepts these.
pub fn seeds_parameter_type(kind: &str) -> bool {
    let item = list_item(kind);
    item.starts_with("AWS::EC2::") || item.starts_with("AWS::Route53::") || kind.starts_with("AWS::SSM::Parameter::")
}

/// The rehearsal's VPC, as the parameters take it.
struct LocalVpc {
    id: String,
    subnets: Vec<String>,
    /// (id, name)
    group: Option<(String, String)>,
}

/// Creates what the environment names, as the real account would already have it: the
/// artifact bucket; where the template refers to them, a VPC with two subnets (and a security
/// group) and a Secrets Manager interface endpoint of its own (the seed's brownfield VPC)
/// whose group admits 443 from the VPC; what the AWS-specific parameters name (see
/// [`seeds_parameter_type`]); and each secret with a random value that is registered for
/// redaction and never printed.
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
        say!("    bucket {bucket}");
    }
    let plan = SeedPlan::for_template(template);
    let vpc = if plan.vpc {
        Some(seed_vpc(sh, aws, &plan)?)
    } else {
        say!("    no VPC: no function has a VpcConfig, and no parameter is a VPC, subnet or security group id by its Type or by its use");
        None
    };
    seed_parameters(sh, aws, template, env, vpc.as_ref(), &mut seeded)?;
    seed_secrets(sh, aws, secret_names)?;
    Ok(seeded)
}

fn seed_vpc(sh: &Shell, aws: &Aws, plan: &SeedPlan) -> Result<LocalVpc> {
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
    say!("    vpc {vpc} ({REHEARSAL_VPC_CIDR}), subnets {}", subnets.join(", "));
    let mut local = LocalVpc { id: vpc, subnets, group: None };
    if plan.security_group {
        let name = "rehearsal";
        let group: CreatedGroup = parse(aws.write(
            sh,
            &[
                "ec2",
                "create-security-group",
                "--group-name",
                name,
                "--description",
                "rehearsal",
                "--vpc-id",
                &local.id,
            ],
            "aws ec2 create-security-group",
        )?)?;
        say!("    security group {} ({name}) in {}", group.group_id, local.id);
        local.group = Some((group.group_id, name.to_string()));
    }
    if plan.endpoint {
        seed_endpoint(sh, aws, &local)?;
    }
    Ok(local)
}

fn seed_endpoint(sh: &Shell, aws: &Aws, vpc: &LocalVpc) -> Result<()> {
    let region = aws.region.as_str();
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
            &vpc.id,
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
        &vpc.id,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        &service,
        "--security-group-ids",
        &group.group_id,
        "--subnet-ids",
    ];
    args.extend(vpc.subnets.iter().map(String::as_str));
    let endpoint: CreatedEndpoint = parse(aws.write(sh, &args, "aws ec2 create-vpc-endpoint")?)?;
    say!(
        "    existing Secrets Manager endpoint {} (security group {} admits 443 from {REHEARSAL_VPC_CIDR})",
        endpoint.vpc_endpoint.vpc_endpoint_id,
        group.group_id
    );
    Ok(())
}

/// A value of the local AWS for each parameter of an AWS-specific type. The VPC's own ids
/// replace whatever the parameter says (an id of the real account does not exist here);
/// other types get one only when the parameter has no value; an SSM parameter a value names
/// is created when missing, since CloudFormation resolves it at deploy.
fn seed_parameters(
    sh: &Shell,
    aws: &Aws,
    template: &Template,
    env: &SamEnvironment,
    vpc: Option<&LocalVpc>,
    seeded: &mut Seeded,
) -> Result<()> {
    let mut values = LocalValues { sh, aws, vpc, subnet_turn: 0, image: None };
    let mut shown = Vec::new();
    let mut by_use = Vec::new();
    for param in template.parameters.iter().filter(|p| seeds_parameter_type(template.parameter_kind(p))) {
        let kind = template.parameter_kind(param);
        if kind != param.kind {
            by_use.push(format!("{} (Type {}, used as {kind})", param.name, param.kind));
        }
        let given = env.override_value(&param.name).map(|o| o.value.clone()).or_else(|| param.default.clone());
        let value = if let Some(inner) = ssm_value_type(&param.kind) {
            let name = given.unwrap_or_else(|| format!("/rehearsal/{}", param.name));
            values.ensure_ssm_parameter(&name, inner, &param.name)?;
            name
        } else if param.kind == "AWS::SSM::Parameter::Name" {
            let name = given.unwrap_or_else(|| format!("/rehearsal/{}", param.name));
            values.ensure_ssm_parameter(&name, "String", &param.name)?;
            name
        } else if let Some(local) = values.vpc_value(kind) {
            local
        } else if let Some(given) = given {
            given
        } else {
            values.value_of(kind, &param.name)?
        };
        shown.push(format!("{}={value}", param.name));
        seeded.overrides.push((param.name.clone(), value));
    }
    if !by_use.is_empty() {
        say!(
            "    by their use in the template, not their Type: {}; their values (an id of the real account or a placeholder such as VPC_ID) do not exist in the local AWS, so the rehearsal's VPC gives them",
            by_use.join(", ")
        );
    }
    if !shown.is_empty() {
        say!("    parameters from the local AWS: {}", shown.join(", "));
    }
    Ok(())
}

/// `T` of `AWS::SSM::Parameter::Value<T>`.
fn ssm_value_type(kind: &str) -> Option<&str> {
    kind.strip_prefix("AWS::SSM::Parameter::Value<").and_then(|k| k.strip_suffix('>'))
}

struct LocalValues<'a> {
    sh: &'a Shell,
    aws: &'a Aws,
    vpc: Option<&'a LocalVpc>,
    /// Single-subnet parameters take the subnets in turn, so two of them differ.
    subnet_turn: usize,
    image: Option<String>,
}

impl LocalValues<'_> {
    /// The VPC's own value for a VPC, subnet or security group parameter.
    fn vpc_value(&mut self, kind: &str) -> Option<String> {
        let vpc = self.vpc?;
        let list = kind.starts_with("List<");
        Some(match list_item(kind) {
            VPC_ID_TYPE => vpc.id.clone(),
            SUBNET_ID if list => vpc.subnets.join(","),
            SUBNET_ID => {
                self.subnet_turn += 1;
                vpc.subnets[(self.subnet_turn - 1) % vpc.subnets.len()].clone()
            }
            SECURITY_GROUP_ID => vpc.group.as_ref()?.0.clone(),
            SECURITY_GROUP_NAME => vpc.group.as_ref()?.1.clone(),
            _ => return None,
        })
    }

    /// A value of an AWS-specific type the parameter has none of.
    fn value_of(&mut self, kind: &str, param: &str) -> Result<String> {
        let region = &self.aws.region;
        let one = match list_item(kind) {
            "AWS::EC2::AvailabilityZone::Name" if kind.starts_with("List<") => {
                return Ok(format!("{region}a,{region}b"));
            }
            "AWS::EC2::AvailabilityZone::Name" => format!("{region}a"),
            "AWS::EC2::KeyPair::KeyName" => {
                let name = format!("rehearsal-{}", param.to_ascii_lowercase());
                // The answer holds a private key of moto's making: not kept, not printed.
                self.aws.write(self.sh, &["ec2", "create-key-pair", "--key-name", &name], "aws ec2 create-key-pair")?;
                name
            }
            "AWS::EC2::Image::Id" => self.image()?,
            // Nothing in moto checks these exist; ids of the right shape do.
            "AWS::EC2::Instance::Id" => "i-0123456789abcdef0".to_string(),
            "AWS::EC2::Volume::Id" => "vol-0123456789abcdef0".to_string(),
            "AWS::Route53::HostedZone::Id" => "Z0123456789REHEARSAL".to_string(),
            "AWS::EC2::VPC::Id" | SUBNET_ID | SECURITY_GROUP_ID | SECURITY_GROUP_NAME => {
                bail!("parameter {param} ({kind}) needs the rehearsal's VPC, which was not created")
            }
            _ => format!("rehearsal-{}", param.to_ascii_lowercase()),
        };
        Ok(one)
    }

    /// An image moto knows (it ships a list of real AMIs), asked for once.
    fn image(&mut self) -> Result<String> {
        if let Some(image) = &self.image {
            return Ok(image.clone());
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Images {
            images: Vec<Image>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Image {
            image_id: String,
        }
        let images: Images =
            self.aws.read(self.sh, &["ec2", "describe-images", "--owners", "amazon"], "aws ec2 describe-images")?;
        let Some(first) = images.images.into_iter().map(|i| i.image_id).min() else {
            bail!("the local AWS lists no image for an AWS::EC2::Image::Id parameter")
        };
        self.image = Some(first.clone());
        Ok(first)
    }

    /// The SSM parameter `name` exists, with a value of type `inner` when it had to be made.
    fn ensure_ssm_parameter(&mut self, name: &str, inner: &str, param: &str) -> Result<()> {
        let found: Option<serde_json::Value> = self.aws.read_optional(
            self.sh,
            &["ssm", "get-parameter", "--name", name],
            "aws ssm get-parameter",
            &["ParameterNotFound"],
        )?;
        if found.is_some() {
            return Ok(());
        }
        let (ssm_type, value) = match inner {
            "List<String>" | "CommaDelimitedList" => ("StringList", "rehearsal".to_string()),
            "String" => ("String", format!("rehearsal-{}", param.to_ascii_lowercase())),
            other => ("String", self.value_of(other, param)?),
        };
        self.aws.write(
            self.sh,
            &["ssm", "put-parameter", "--name", name, "--type", ssm_type, "--value", &value],
            "aws ssm put-parameter",
        )?;
        Ok(())
    }
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
        say!("    secret {name} (random value, never printed)");
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
        assert_eq!(SeedPlan::for_template(&plain), SeedPlan { vpc: false, security_group: false, endpoint: false });
        let vpc = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      VpcConfig: {SubnetIds: [subnet-1]}\n",
            "t",
        )
        .unwrap();
        assert_eq!(SeedPlan::for_template(&vpc), SeedPlan { vpc: true, security_group: false, endpoint: false });
        let sample = Template::parse(
            &format!("Parameters:\n  V: {{Type: '{VPC_ID_TYPE}'}}\n  {EXISTING_ENDPOINT_PARAMETER}: {{Type: String, Default: ''}}\nResources: {{}}\n"),
            "t",
        )
        .unwrap();
        assert_eq!(SeedPlan::for_template(&sample), SeedPlan { vpc: true, security_group: false, endpoint: true });
    }

    #[test]
    fn string_parameters_used_as_a_vpc_subnets_or_groups_are_seeded_by_their_use() {
        let text = "Parameters:\n  Vpc: {Type: String, Default: VPC_ID}\n  Subnets: {Type: String, Default: 'subnet-1,subnet-2'}\n  One: {Type: String}\n  Groups: {Type: CommaDelimitedList}\n  Name: {Type: String, Default: app}\nResources:\n  Lb:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties:\n      Name: !Ref Name\n      Subnets: !Split [',', !Ref Subnets]\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties: {GroupDescription: x, VpcId: !Ref Vpc}\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      VpcConfig: {SubnetIds: [!Ref One], SecurityGroupIds: !Ref Groups}\n";
        let template = Template::parse(text, "t").unwrap();
        let kind = |name: &str| template.parameter_kind(template.parameter(name).unwrap()).to_string();
        assert_eq!(kind("Vpc"), VPC_ID_TYPE);
        assert_eq!(kind("Subnets"), "List<AWS::EC2::Subnet::Id>");
        assert_eq!(kind("One"), SUBNET_ID);
        assert_eq!(kind("Groups"), "List<AWS::EC2::SecurityGroup::Id>");
        assert_eq!(kind("Name"), "String");
        assert_eq!(SeedPlan::for_template(&template), SeedPlan { vpc: true, security_group: true, endpoint: false });
    }
}
