//! `cargo xtask lambda-deploy --env <env>`: lambda-build, preflight, `sam deploy`, post-deploy
//! checks and an audit record, as timed steps on one pipeline.
//!
//! Everything that can be wrong with the flags, samconfig.toml, the template or the machine is
//! checked first: bad input exits 2 with one line, before any AWS call and with nothing on
//! disk changed (no audit line either: no attempt was made). From there on every attempt,
//! whatever its end, appends one line to the audit log, and one more, `started`, just before
//! `sam deploy` starts: a run killed while sam changes the stack still leaves its record.

pub mod audit;
pub mod environment;
pub mod health;
mod post_deploy;
pub mod preflight;
mod rehearsal;
mod sam_deploy;

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::aws::moto;
use crate::aws::{self, Aws};
use crate::bad_input;
use crate::build::sam_build;
use crate::cli::{DeployArgs, LAMBDA_DEPLOY};
use crate::commands::build as lambda_build;
use crate::evidence::approval::Confirmation;
use crate::evidence::audit_log::LogPath;
use crate::extend::{Extensions, StepContext};
use crate::guards::{self, Finding};
use crate::project::config::Project;
use crate::project::deploy_settings::ResolvedEnvironment;
use crate::project::samconfig::SamEnvironment;
use crate::project::stack_template::{EXISTING_ENDPOINT_PARAMETER, VPC_ID_TYPE};
use crate::project::target::{self, Discovery};
use crate::project::template::Template;
use crate::run::pipeline::{Findings, Pipeline};
use crate::run::record::Finished;
use crate::sys::exit::{status_of, INTERRUPTED};
use crate::sys::git::{GitState, OwnOutput};
use crate::sys::layout;
use crate::sys::lock::RepoLock;
use crate::sys::{redact, tools};
use crate::ui::Ui;

use audit::{AttemptResult, AuditRecord};

/// A check stopped the deploy before `sam deploy` changed anything; recorded as "aborted".
#[derive(Debug)]
pub struct Aborted(pub String);

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Aborted {}

/// Stacks take minutes to delete; one still there after half an hour needs a human.
const STACK_DELETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Everything the deploy needs, checked before anything happens.
struct Plan<'a> {
    ui: &'a Ui,
    project: &'a Project,
    args: &'a DeployArgs,
    env: SamEnvironment,
    /// The environment's table is in samconfig.toml (else: the rehearsal's defaults), and
    /// what the defaults filled in.
    in_samconfig: bool,
    defaults: Vec<String>,
    settings: ResolvedEnvironment,
    samconfig_path: PathBuf,
    samconfig_shown: String,
    template: Template,
    found: Discovery,
    region: String,
    /// The rehearsal's values for parameters that would have none.
    placeholders: Vec<(String, String)>,
    health: health::PlannedCheck,
    health_timeout: Duration,
    /// The guards `--allow` lets pass (the rehearsal's smoke tests honour them).
    allowed: guards::allow::Allowed,
    /// The caller, when the credentials were checked before the build.
    identity: Option<aws::CallerIdentity>,
    log: LogPath,
}

/// What the attempt learnt on its way, for the audit record.
struct Attempt {
    /// Shared by the `started` line and the final one.
    id: String,
    started_at: SystemTime,
    /// How the go-ahead was given; `NotGiven` until a protected environment is confirmed.
    confirmation: Confirmation,
    account: Option<String>,
    deployer: Option<String>,
    change_set_id: Option<String>,
    no_changes: Option<bool>,
    deployed: Vec<crate::evidence::deployed::DeployedCode>,
    /// The aws CLI as the attempt set it up, and the rehearsal's moto: the audit line is
    /// copied to the audit bucket after the attempt, through the same endpoint.
    aws: Option<Aws>,
    local_aws: Option<moto::MotoServer>,
    health: Option<health::HealthRecord>,
}

pub fn run(ui: &Ui, extensions: &Extensions, args: &DeployArgs) -> Result<Finished> {
    redact::register_credentials_from_env();
    let project = Project::discover()?;
    let sh = Shell::new()?;
    let git = GitState::read(&sh, &project.root, &own_outputs(ui, &project));
    let (plan, prerequisites) = plan(ui, &project, args, &git, &extensions.guard_names())?;

    let _lock = RepoLock::acquire(&project.sam_dir())?;
    let mut pipeline = Pipeline::new(ui, LAMBDA_DEPLOY).with_extensions(extensions);
    pipeline.set_context(StepContext::new(&project, &plan.found));
    let mut deploy = Deploy::new(&plan, &sh, &git, Attempt::new(&plan, SystemTime::now()));
    let result = deploy.run(&mut pipeline, prerequisites);
    let attempt = deploy.attempt;

    let record = audit_record(&plan, &git, &attempt, &pipeline, Some(&result));
    let logged = plan
        .log
        .append(&record)
        .and_then(|line| copy_to_audit_bucket(&sh, &plan, &attempt, &record.started_at, &line).map(|()| line));
    // The same record goes into the --json report and the CI step summary.
    if let Ok(value) = serde_json::to_value(&record) {
        pipeline.set_deploy_record(value);
    }
    let shown_log = project.config.deploy.log.display();
    let result = match logged {
        Ok(_line) => {
            let result_text = serde_json::to_value(record.result).unwrap_or_default();
            say!("[{LAMBDA_DEPLOY}] audit: {} attempt appended to {shown_log}", result_text.as_str().unwrap_or("an"));
            result
        }
        Err(err) => {
            let err = err.context(format!("writing the audit record to {shown_log}"));
            match result {
                Ok(()) => Err(err.context("the deploy itself succeeded")),
                Err(first) => {
                    say!("error: {err:#}");
                    Err(first)
                }
            }
        }
    };
    Ok(pipeline.finish(result))
}

/// The line, once written locally, into the environment's audit bucket (when it has one).
fn copy_to_audit_bucket(sh: &Shell, plan: &Plan, attempt: &Attempt, started_at: &str, line: &str) -> Result<()> {
    let Some(bucket) = &plan.settings.audit_bucket else { return Ok(()) };
    // Stopped before its first AWS call (an offline check, or the rehearsal before its local
    // AWS started): an attempt that made no AWS call makes none for its record either, so the
    // "before any AWS call" refusals hold; the line is in the local log.
    let Some(aws) = &attempt.aws else {
        say!("[lambda-deploy] audit: the attempt stopped before any AWS call; the line stays in the local log only");
        return Ok(());
    };
    let key = crate::evidence::audit_bucket::object_key(&plan.env.name, started_at, line);
    let scratch = plan.project.sam_dir().join(".aws-sam");
    crate::evidence::audit_bucket::upload(sh, aws, bucket, &key, line, &scratch)
        .with_context(|| format!("copying the audit line to s3://{bucket}/{key} (it is in the local log)"))?;
    say!("[lambda-deploy] audit: copied to s3://{bucket}/{key}");
    Ok(())
}

/// The attempt's line: its end when `result` is given, else its `started` line.
fn audit_record(
    plan: &Plan,
    git: &GitState,
    attempt: &Attempt,
    pipeline: &Pipeline,
    result: Option<&Result<()>>,
) -> AuditRecord {
    // Findings before sam deploy stopped it with nothing changed; after, they are failures.
    let deploying = pipeline.steps.iter().any(|step| step.name == SAM_DEPLOY_STEP);
    let (outcome, exit_status, error) = match result {
        None => (AttemptResult::Started, None, None),
        Some(Ok(())) => (AttemptResult::Succeeded, Some(0), None),
        Some(Err(err)) => {
            let status = status_of(err);
            let outcome = if status == INTERRUPTED {
                AttemptResult::Interrupted
            } else if err.chain().any(|c| c.is::<Aborted>() || (c.is::<Findings>() && !deploying)) {
                AttemptResult::Aborted
            } else {
                AttemptResult::Failed
            };
            (outcome, Some(status), Some(redact::scrub(&format!("{err:#}")).replace('\n', " ")))
        }
    };
    AuditRecord {
        schema: audit::SCHEMA_VERSION,
        attempt_id: attempt.id.clone(),
        started_at: crate::sys::time::utc_text(attempt.started_at),
        ended_at: result.map(|_| crate::sys::time::utc_text(SystemTime::now())),
        env: plan.env.name.clone(),
        stack: plan.env.stack_name.clone(),
        region: Some(plan.region.clone()),
        account: attempt.account.clone(),
        deployer: attempt.deployer.clone(),
        commit: git.commit.clone(),
        dirty: git.dirty,
        remote_branches: git.remote_branches.clone(),
        xtask_version: crate::version::VERSION,
        dry_run: plan.args.dry_run,
        rehearsal: plan.settings.rehearsal,
        ci: plan.ui.ci(),
        change_set_id: attempt.change_set_id.clone(),
        no_changes: attempt.no_changes,
        health_check: attempt.health.clone(),
        steps: audit::audit_steps(&pipeline.steps),
        result: outcome,
        exit_status,
        error,
        evidence: crate::evidence::AttemptEvidence {
            artifacts: crate::build::fingerprint::recorded_evidence(&plan.project.sam_dir())
                .map(|e| e.artifacts)
                .unwrap_or_default(),
            approval: crate::evidence::approval::Approval::detect(
                |name| std::env::var(name).ok(),
                attempt.confirmation,
                || crate::evidence::approval::git_identity(&plan.project.root),
            ),
            deployed: attempt.deployed.clone(),
        },
    }
}

/// All bad-input checks: flags, samconfig, the xtask's settings, the template, the machine.
/// The build's prerequisites come back beside the plan: whether a build is due is decided
/// under the repository lock.
fn plan<'a>(
    ui: &'a Ui,
    project: &'a Project,
    args: &'a DeployArgs,
    git: &GitState,
    team_guards: &[&'static str],
) -> Result<(Plan<'a>, lambda_build::Prerequisites)> {
    let samconfig_path = project.path(&project.samconfig());
    let samconfig_shown = project.samconfig().display().to_string();
    let settings = project.config.deploy.environment(&args.env);
    let resolved =
        environment::resolve(&samconfig_path, &samconfig_shown, &args.env, settings.rehearsal, &project.root)?;
    let env = resolved.sam;
    let name = &env.name;
    let settings_table = format!("[workspace.metadata.lambda.deploy.environments.{name}]");

    check_environment_flags(ui, args, &settings, name, &settings_table)?;
    let region = env.region(&samconfig_shown)?;
    let allowed = guards::allow::Allowed::parse(&args.allow, team_guards)?;
    check_health_url(args)?;

    let template_shown = project.config.template.display().to_string();
    let template = Template::load_for_environment(&project.template_path(), &template_shown, &env)?;
    let found = target::resolve_targets(project, &template)?;
    let placeholders =
        if settings.rehearsal { environment::rehearsal_placeholders(&template, &env) } else { Vec::new() };
    let override_fix = |key: &str| {
        environment::override_fix(name, key, &samconfig_shown, samconfig_path.exists(), resolved.in_samconfig)
    };
    check_parameters(&env, &template, &settings, &placeholders, &samconfig_shown, &override_fix, &template_shown)?;
    register_no_echo_values(&template, &env);

    let health = health::plan(
        &settings.health_check,
        &template,
        args.health_url.as_deref(),
        settings.rehearsal,
        &settings_table,
        &template_shown,
    )?;
    let build = lambda_build::Prerequisites::check(project, args.container, &found, &args.allow, team_guards)?;
    let log = check_tools_and_log(project, settings.rehearsal)?;
    check_log_placement(ui, project, &found, &log)?;
    // The offline checks come first and need no AWS call: when they will stop the deploy,
    // the credentials are not asked about.
    let offline_clean = || offline_findings(&env, &settings, args, &region, &samconfig_shown, git).is_empty();
    let identity = match !settings.rehearsal && offline_clean() {
        true => preflight_credentials(project, &env, &settings, &region, ui.ci())?,
        false => None,
    };
    let health_timeout = args.health_timeout.map(Duration::from_secs).unwrap_or(settings.health_timeout);
    let plan = Plan {
        ui,
        project,
        args,
        env,
        in_samconfig: resolved.in_samconfig,
        defaults: resolved.defaults,
        settings,
        samconfig_path,
        samconfig_shown,
        template,
        found,
        region,
        placeholders,
        health,
        health_timeout,
        allowed,
        identity,
        log,
    };
    Ok((plan, build))
}

/// A NoEcho parameter's value is a secret: sam prints the overrides it deploys with.
fn register_no_echo_values(template: &Template, env: &SamEnvironment) {
    for param in template.parameters.iter().filter(|p| p.no_echo) {
        if let Some(o) = env.override_value(&param.name) {
            redact::register(&o.value);
        }
    }
}

/// A protected environment's requirements and the flags that cannot go together.
fn check_environment_flags(
    ui: &Ui,
    args: &DeployArgs,
    settings: &ResolvedEnvironment,
    name: &str,
    settings_table: &str,
) -> Result<()> {
    if settings.protected && settings.account_id.is_none() && !settings.rehearsal {
        bad_input!("{name} is a protected environment without an account_id: add account_id = \"<12 digits>\" to {settings_table} in Cargo.toml")
    }
    if settings.protected && !args.yes && !ui.can_prompt() {
        bad_input!("{name} is a protected environment and there is no terminal to confirm on: pass --yes to deploy it")
    }
    if settings.protected && !settings.rehearsal && settings.audit_bucket.is_none() {
        bad_input!("{name} is a protected environment without audit_bucket: add audit_bucket = \"<S3 bucket with Object Lock in compliance mode and versioning>\" to {settings_table} in Cargo.toml")
    }
    if args.dry_run && args.replace_failed_stack {
        bad_input!("--replace-failed-stack deletes a stack and --dry-run changes nothing: use one of them")
    }
    Ok(())
}

fn check_health_url(args: &DeployArgs) -> Result<()> {
    if let Some(url) = &args.health_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bad_input!("--health-url {url:?} is not an http:// or https:// URL")
        }
    }
    Ok(())
}

/// aws (and moto for a rehearsal) are installed into the tool cache when missing: that must be
/// possible before the build starts, not discovered after it. Returns the audit log's place,
/// checked appendable before the first AWS call (a regular file inside the repository, never
/// through a symlink): a log found unwritable after `sam deploy` would leave a changed stack
/// with no record of it, and one that leads out of the repository would write elsewhere.
fn check_tools_and_log(project: &Project, rehearsal: bool) -> Result<LogPath> {
    tools::check_obtainable(&tools::PythonTool::aws_cli(&project.config.deploy.awscli_version))?;
    if rehearsal {
        tools::check_obtainable(&tools::PythonTool::moto_server(&project.config.deploy.moto_version))?;
    }
    LogPath::check_appendable(&project.root, &project.config.deploy.log)
}

/// The audit log apart from what the build packages and from the run's other outputs: inside
/// a function dir, a backend_src or a layer it would ship in the artifact and change it with
/// every attempt (and an append-only edit of a source file there would pass for the log's);
/// as the `--json` report it would be replaced by the report, as the step summary appended
/// to in Markdown. Bad input, before anything runs.
fn check_log_placement(ui: &Ui, project: &Project, found: &Discovery, log: &LogPath) -> Result<()> {
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    // Beneath the root through real directories only (LogPath): this is where it is.
    let at = root.join(log.relative());
    let setting = "set log in [workspace.metadata.lambda.deploy] to a path outside it (the default is deploy-log.jsonl at the repository root)";
    let mut sources: Vec<(PathBuf, String)> = Vec::new();
    for (target, _) in found.function_dirs() {
        // A staged function dir (the root, say) ships what git shows of it less the xtask's own
        // files, and the audit log is one of them (`ToolFiles`): it never ships from there.
        if !matches!(target.function_dir, target::CodeDir::Staged(_)) {
            sources.push((
                target.function_dir.path().to_path_buf(),
                format!("the function dir of {}", target.logical_id()),
            ));
        }
        if let (Some(source), Some(shown)) = (&target.backend_src, &target.config.backend_src) {
            sources.push((source.clone(), format!("backend_src {} of {}", shown.display(), target.logical_id())));
        }
    }
    // A makefile layer ships what its Makefile writes, not its dir.
    for layer in found.layers.iter().filter(|l| !l.makefile()) {
        sources.push((project.path(&layer.dir), format!("the layer {}", layer.logical_id())));
    }
    for (dir, what) in sources {
        let dir = dir.canonicalize().unwrap_or(dir);
        if at.starts_with(&dir) {
            bad_input!(
                "the audit log {} is inside {what} ({}), which lambda-build packages: it would ship in the artifact and change it with every attempt; {setting}",
                log.shown(),
                dir.strip_prefix(&root).unwrap_or(&dir).display()
            )
        }
    }
    let output = ui.output();
    for (flag, path) in [("--json", output.json_report.as_ref()), ("GITHUB_STEP_SUMMARY", output.step_summary.as_ref())]
    {
        if path.is_some_and(|path| same_file(path, &at)) {
            bad_input!(
                "{flag} names the audit log {}: the run would overwrite its attempts; write the report elsewhere (e.g. --json lambda-report.json)",
                log.shown()
            )
        }
    }
    Ok(())
}

/// Whether two paths name one file: the same inode when both exist (a hard link included),
/// else the same name in the same (resolved) directory.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    let resolved = |path: &Path| {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        match (absolute.parent().map(Path::canonicalize), absolute.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => absolute,
        }
    };
    resolved(a) == resolved(b)
}

/// The xtask's own outputs, which never make the tree dirty: SAM's build dir (where the
/// xtask also keeps its lock, manifest and the moto log), the audit log, a `--json` report,
/// the tool venvs it installed and its interpreter probes when its cache is inside the
/// repository (those alone, not the cache's directory), and the backend copied into a function dir.
fn own_outputs(ui: &Ui, project: &Project) -> Vec<OwnOutput> {
    let mut outputs = vec![
        OwnOutput::Written(layout::aws_sam_dir(&project.sam_dir())),
        OwnOutput::Appended(project.path(&project.config.deploy.log)),
    ];
    if let Some(report) = &ui.output().json_report {
        outputs.push(OwnOutput::Written(std::path::absolute(report).unwrap_or_else(|_| report.clone())));
    }
    let tools = [
        tools::PythonTool::sam_cli(&project.config.sam_cli_version),
        tools::PythonTool::aws_cli(&project.config.deploy.awscli_version),
        tools::PythonTool::moto_server(&project.config.deploy.moto_version),
        tools::PythonTool::uv(&project.config.uv_version),
    ];
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    for entry in tools::cache_entries(&tools).into_iter().chain(crate::sys::interpreters::probe_file()) {
        // Compared with the root as git sees it: the cache may be named through a symlink.
        let entry = match (entry.parent().map(Path::canonicalize), entry.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => entry,
        };
        let entry = entry.strip_prefix(&root).map(|r| project.root.join(r)).unwrap_or(entry);
        outputs.push(OwnOutput::Written(entry));
    }
    if let Ok(template) = Template::load(&project.template_path(), "template") {
        if let Ok(found) = target::discover(project, &template) {
            for function in found.targets.iter().filter(|t| t.config.backend_src.is_some()) {
                outputs.push(OwnOutput::Written(function.function_dir.join(&function.config.copy_to)));
            }
        }
    }
    outputs
}

/// The checks that need no AWS call: a protected environment's dirty tree, and the secrets'
/// path convention, region and account.
fn offline_findings(
    env: &SamEnvironment,
    settings: &ResolvedEnvironment,
    args: &DeployArgs,
    region: &str,
    samconfig_shown: &str,
    git: &GitState,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if settings.protected && !args.allow_dirty {
        findings.extend(preflight::dirty_tree(&env.name, git));
    }
    if settings.protected && !args.allow_unpushed {
        findings.extend(preflight::unpushed_commit(&env.name, git));
    }
    findings.extend(preflight::secret_conventions(&preflight::OfflineSecrets {
        env,
        samconfig_shown,
        secret_prefix: settings.secret_prefix.as_deref(),
        region,
        account_id: settings.account_id.as_deref().filter(|_| !settings.rehearsal),
    }));
    findings
}

/// A real environment's credentials, asked of STS before the build: missing or rejected ones
/// are bad input naming the account and the login.
fn preflight_credentials(
    project: &Project,
    env: &SamEnvironment,
    settings: &ResolvedEnvironment,
    region: &str,
    ci: bool,
) -> Result<Option<aws::CallerIdentity>> {
    let sh = Shell::new()?;
    let executable = aws::locate(&sh, &project.config.deploy.awscli_version)?;
    let aws = Aws::new(executable, region.to_string(), env.profile.clone());
    let profile = env.profile.clone().or_else(|| non_empty_var("AWS_PROFILE"));
    preflight::check_credentials(
        &sh,
        &aws,
        &preflight::CredentialContext {
            env: &env.name,
            expected_account: settings.account_id.as_deref(),
            profile: profile.as_deref(),
            ci,
        },
    )
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Every override names a template parameter, every parameter without a default gets a value
/// (the rehearsal supplies those of AWS-specific types from its local AWS), and no value holds a character
/// sam's override syntax cannot carry.
fn check_parameters(
    env: &SamEnvironment,
    template: &Template,
    settings: &ResolvedEnvironment,
    placeholders: &[(String, String)],
    samconfig_shown: &str,
    override_fix: &dyn Fn(&str) -> String,
    template_shown: &str,
) -> Result<()> {
    let name = &env.name;
    for o in &env.overrides {
        if template.parameter(&o.key).is_none() {
            bad_input!(
                "{samconfig_shown}:{} [{name}.deploy.parameters] overrides {}, which {template_shown} does not declare: remove it or add the parameter",
                o.line.unwrap_or_default(),
                o.key
            )
        }
        if o.value.contains(['"', '\\']) {
            bad_input!(
                "{samconfig_shown}:{} the value of {} contains a quote or backslash, which sam's parameter overrides cannot carry",
                o.line.unwrap_or_default(),
                o.key
            )
        }
    }
    for param in &template.parameters {
        let seeded = (settings.rehearsal && moto::seeds_parameter_type(&param.kind))
            || placeholders.iter().any(|(name, _)| *name == param.name);
        if param.default.is_none() && env.override_value(&param.name).is_none() && !seeded {
            bad_input!(
                "{name} gives no value for {template_shown} parameter {} (no Default): {}",
                param.name,
                override_fix(&param.name)
            )
        }
    }
    Ok(())
}

fn built_template(project: &Project) -> PathBuf {
    layout::built_template(&project.sam_dir())
}

/// The step that changes the stack: findings before it abort the deploy (nothing was
/// deployed); findings after it are failures to fix.
const SAM_DEPLOY_STEP: &str = "sam-deploy";

/// One deploy attempt, as its steps in order over the state they share: the plan, the git
/// state, what the attempt learns for the audit record, and the parameter values computed on
/// the way. What one step hands the next (sam, aws, the stack) is passed explicitly.
struct Deploy<'a> {
    plan: &'a Plan<'a>,
    sh: &'a Shell,
    git: &'a GitState,
    attempt: Attempt,
    /// Values computed on the way (the rehearsal's VPC, a discovered endpoint) override
    /// samconfig's; every template parameter is then passed explicitly.
    computed: Vec<(String, String)>,
}

impl Attempt {
    fn new(plan: &Plan, started_at: SystemTime) -> Attempt {
        let confirmation = match (plan.settings.protected, plan.args.yes) {
            (false, _) => Confirmation::NotRequired,
            (true, true) => Confirmation::YesFlag,
            (true, false) => Confirmation::NotGiven,
        };
        Attempt {
            id: audit::attempt_id(started_at),
            started_at,
            confirmation,
            account: None,
            deployer: None,
            change_set_id: None,
            no_changes: None,
            deployed: Vec::new(),
            aws: None,
            local_aws: None,
            health: None,
        }
    }
}

impl<'a> Deploy<'a> {
    fn new(plan: &'a Plan<'a>, sh: &'a Shell, git: &'a GitState, attempt: Attempt) -> Deploy<'a> {
        Deploy { plan, sh, git, attempt, computed: Vec::new() }
    }

    fn run(&mut self, pipeline: &mut Pipeline, prerequisites: lambda_build::Prerequisites) -> Result<()> {
        pipeline.step("preflight-offline", || self.preflight_offline())?;
        let sam = self.build(pipeline, prerequisites)?;
        let mut aws = pipeline.step("aws-cli", || self.aws_cli())?;
        if self.plan.settings.rehearsal {
            let server = pipeline.step("local-aws", || self.local_aws(&mut aws))?;
            self.attempt.local_aws = Some(server);
        }
        self.attempt.aws = Some(aws.clone());
        pipeline.step("aws-account", || self.aws_account(&aws))?;
        if let Some(bucket) = &self.plan.settings.audit_bucket {
            pipeline.step("audit-bucket", || self.audit_bucket(&aws, bucket))?;
        }
        let existing = pipeline.step("stack-state", || self.stack_state(&aws))?;
        let resources = match &existing {
            Some(_) => aws::stack::physical_ids(self.sh, &aws, self.stack())?,
            None => Vec::new(),
        };
        pipeline.step("secrets", || self.secrets(&aws))?;
        pipeline.step("vpc-endpoint", || self.vpc_endpoint(&aws, &resources))?;
        let parameters = all_parameters(&self.plan.template, &self.plan.env, &self.computed);
        let before = preflight::ingress_subjects(&self.plan.template, &parameters, existing.as_ref(), &resources);
        pipeline.step("endpoint-ingress", || self.endpoint_ingress(&aws, &before, false))?;
        // The rehearsal's moto has no SAM transform: the rehearsal applies it (see rehearsal.rs).
        let template = match self.plan.settings.rehearsal {
            true => pipeline.step("sam-transform", || self.sam_transform(&aws, &sam, &parameters))?,
            false => built_template(self.plan.project),
        };
        // On record before the stack can change: if this run never ends (kill -9, a lost
        // machine), the log still says it started, from what, approved by whom.
        let started = audit_record(self.plan, self.git, &self.attempt, pipeline, None);
        pipeline.step("audit-started", || self.record_start(&started))?;
        let outcome = match pipeline.step(SAM_DEPLOY_STEP, || self.sam_deploy(&aws, &sam, &parameters, &template)) {
            Ok(outcome) => outcome,
            Err(err) => return Err(run_doctor(pipeline, &aws, self.plan, err)),
        };
        if self.plan.args.dry_run {
            return pipeline.step("change-set", || self.change_set(&aws, &outcome));
        }
        self.after_deploy(pipeline, &aws, &parameters).map_err(|err| run_doctor(pipeline, &aws, self.plan, err))
    }

    /// The checks once the stack has changed: its status, the code it runs, the endpoint's
    /// ingress again, the environment's health check.
    fn after_deploy(&mut self, pipeline: &mut Pipeline, aws: &Aws, parameters: &[(String, String)]) -> Result<()> {
        let deployed = pipeline.step("stack-status", || post_deploy::stack_complete(self.sh, aws, self.stack()))?;
        pipeline.step("deployed-code", || self.deployed_code(aws))?;
        pipeline.step("endpoint-ingress-after", || {
            let resources = aws::stack::physical_ids(self.sh, aws, self.stack())?;
            let after = preflight::ingress_subjects(&self.plan.template, parameters, Some(&deployed), &resources);
            self.endpoint_ingress(aws, &after, true)
        })?;
        pipeline.step("health-check", || {
            let (record, result) = health_check(self.sh, self.plan, &deployed);
            self.attempt.health = Some(record);
            result
        })
    }

    fn stack(&self) -> &'a str {
        &self.plan.env.stack_name
    }

    /// The checks that need no AWS (a protected environment's clean tree, the secrets' path
    /// convention), then the confirmation.
    fn preflight_offline(&mut self) -> Result<()> {
        let plan = self.plan;
        abort_on(offline_findings(
            &plan.env,
            &plan.settings,
            plan.args,
            &plan.region,
            &plan.samconfig_shown,
            self.git,
        ))?;
        if plan.settings.protected && !plan.args.yes {
            confirm(plan, self.git)?;
            self.attempt.confirmation = Confirmation::Typed;
        }
        Ok(())
    }

    /// The attempt's `started` line, in the local log and the audit bucket.
    fn record_start(&mut self, record: &AuditRecord) -> Result<()> {
        let plan = self.plan;
        let line = plan.log.append(record)?;
        copy_to_audit_bucket(self.sh, plan, &self.attempt, &record.started_at, &line)?;
        say!("    attempt {} recorded as started in {}", self.attempt.id, plan.log.shown());
        Ok(())
    }

    /// A deploy reuses the build output when its manifest proves it current (the no-op check
    /// of lambda-build: same inputs, output untouched), with the packages and evidence that
    /// build recorded: no sam build, no guards again, no re-packaging. Otherwise, or with
    /// --force, it builds. Returns sam's path.
    fn build(&mut self, pipeline: &mut Pipeline, prerequisites: lambda_build::Prerequisites) -> Result<PathBuf> {
        let plan = self.plan;
        match lambda_build::plan(plan.project, &plan.found, prerequisites, plan.args.force)? {
            Some(build) => lambda_build::build(pipeline, self.sh, plan.project, &plan.found, &build),
            None => {
                // A step of its own, so the audit record shows the build was reused.
                pipeline.step("build-up-to-date", || {
                    say!(
                        "    the build output matches its manifest: deploying its packages as built (--force rebuilds)"
                    );
                    Ok(())
                })?;
                lambda_build::locate_sam_step(pipeline, self.sh, plan.project)
            }
        }
    }

    fn aws_cli(&mut self) -> Result<Aws> {
        let plan = self.plan;
        let executable = aws::locate(self.sh, &plan.project.config.deploy.awscli_version)?;
        say!("    aws: {}", executable.display());
        let profile = if plan.settings.rehearsal { None } else { plan.env.profile.clone() };
        Ok(Aws::new(executable, plan.region.clone(), profile))
    }

    /// The rehearsal's AWS: moto, started and seeded; what it seeded (its VPC, subnets,
    /// placeholders) becomes parameter values.
    fn local_aws(&mut self, aws: &mut Aws) -> Result<moto::MotoServer> {
        let (server, seeded) = start_local_aws(self.sh, self.plan, aws)?;
        self.computed.extend(seeded);
        Ok(server)
    }

    fn aws_account(&mut self, aws: &Aws) -> Result<()> {
        let identity = match &self.plan.identity {
            Some(identity) => identity.clone(),
            None => preflight::caller_identity(self.sh, aws)?,
        };
        say!("    account {} as {}", identity.account, identity.arn);
        self.attempt.account = Some(identity.account.clone());
        self.attempt.deployer = Some(identity.arn.clone());
        match &self.plan.settings.account_id {
            Some(expected) => {
                abort_on(preflight::account_finding(&self.plan.env.name, &identity, expected).into_iter().collect())
            }
            None => Ok(()),
        }
    }

    /// The environment's audit bucket keeps what it is given (Object Lock in compliance mode,
    /// versioning): checked before the stack changes, so no attempt goes unrecorded there.
    fn audit_bucket(&mut self, aws: &Aws, bucket: &str) -> Result<()> {
        let setting = format!("[workspace.metadata.lambda.deploy.environments.{}] audit_bucket", self.plan.env.name);
        match crate::evidence::audit_bucket::check(self.sh, aws, bucket, &setting)? {
            Ok(found) => {
                say!("    {found}");
                Ok(())
            }
            Err(problem) => Err(anyhow::Error::new(Aborted(problem))),
        }
    }

    /// The stack as it stands; `None` when sam will create it (a rolled-back stack deleted with
    /// --replace-failed-stack included).
    fn stack_state(&mut self, aws: &Aws) -> Result<Option<aws::Stack>> {
        let stack = self.stack();
        let Some(found) = aws::stack::describe(self.sh, aws, stack)? else {
            say!("    {stack} does not exist yet in {}: sam creates it", self.plan.region);
            return Ok(None);
        };
        say!("    {stack} is {}", found.stack_status);
        if found.stack_status == "ROLLBACK_COMPLETE" && self.plan.args.replace_failed_stack {
            preflight::delete_rolled_back_stack(self.sh, aws, stack, STACK_DELETE_TIMEOUT)?;
            return Ok(None);
        }
        abort_on(preflight::stack_state_finding(aws, &found, stack).into_iter().collect())?;
        Ok(Some(found))
    }

    fn secrets(&mut self, aws: &Aws) -> Result<()> {
        let env = &self.plan.env;
        let findings = preflight::check_secrets(self.sh, aws, env, &self.plan.samconfig_shown)?;
        if findings.is_empty() {
            let count = preflight::secret_parameters(env).len();
            say!("    {count} secret(s) exist and none is scheduled for deletion");
        }
        abort_on(findings)
    }

    /// An existing Secrets Manager endpoint in the VPC, outside this stack, is passed to the
    /// template so the stack creates no duplicate.
    fn vpc_endpoint(&mut self, aws: &Aws, resources: &[(String, String)]) -> Result<()> {
        let (plan, env) = (self.plan, &self.plan.env);
        let Some(param) = plan.template.parameter(EXISTING_ENDPOINT_PARAMETER) else {
            say!("    the template has no {EXISTING_ENDPOINT_PARAMETER} parameter: nothing to look up");
            return Ok(());
        };
        let configured = env.override_value(&param.name).map(|o| o.value.clone()).unwrap_or_default();
        if !configured.is_empty() {
            say!("    {} = {configured} (from {})", param.name, plan.samconfig_shown);
            return Ok(());
        }
        let vpc = plan.template.parameter_of_type(VPC_ID_TYPE).and_then(|p| {
            self.computed
                .iter()
                .find(|(k, _)| *k == p.name)
                .map(|(_, v)| v.clone())
                .or_else(|| env.override_value(&p.name).map(|o| o.value.clone()))
        });
        let Some(vpc) = vpc else {
            say!("    no VPC parameter to look in: the stack creates its own endpoint");
            return Ok(());
        };
        let owned: Vec<String> = resources.iter().map(|(_, physical)| physical.clone()).collect();
        match preflight::find_existing_endpoint(self.sh, aws, &vpc, &owned)? {
            Some(endpoint) => {
                say!(
                    "    found the existing Secrets Manager endpoint {} in {vpc}: passing it as {} so the stack creates no duplicate",
                    endpoint.vpc_endpoint_id, param.name
                );
                self.computed.push((param.name.clone(), endpoint.vpc_endpoint_id));
            }
            None => say!("    no Secrets Manager endpoint in {vpc} outside this stack: the stack creates its own"),
        }
        Ok(())
    }

    /// The endpoint admits the function's security group on 443: before the
    /// deploy a missing rule aborts it; after, the stack is already changed, so it is a
    /// failure to fix.
    fn endpoint_ingress(&mut self, aws: &Aws, subjects: &preflight::IngressSubjects, after_deploy: bool) -> Result<()> {
        let (Some(endpoint), Some(group)) = (&subjects.endpoint, &subjects.lambda_group) else {
            let why = match (&subjects.endpoint, &subjects.lambda_group) {
                (None, _) if !after_deploy => "the stack creates its own endpoint, with ingress from the function",
                (_, None) if !after_deploy => "the function's security group does not exist yet",
                (None, _) => "no Secrets Manager endpoint is known for the stack",
                (Some(_), _) => "the template has no function security group to check",
            };
            let when = if after_deploy { "" } else { "; checked again after the deploy" };
            say!("    skipped: {why}{when}");
            return Ok(());
        };
        match preflight::check_ingress(self.sh, aws, endpoint, group, subjects.vpc.as_deref())? {
            preflight::Ingress::Allowed(how) => {
                say!("    endpoint {endpoint}: {how}");
                Ok(())
            }
            preflight::Ingress::Missing { endpoint_group } => {
                let iac = self.plan.project.config.deploy.iac.display().to_string();
                let finding = preflight::ingress_finding(aws, &iac, endpoint, &endpoint_group, group, after_deploy);
                if after_deploy {
                    Findings::fail_with(
                        vec![finding],
                        "the deployed function cannot reach Secrets Manager: run the fix above",
                    )
                } else {
                    abort_on(vec![finding])
                }
            }
        }
    }

    fn sam_transform(&mut self, aws: &Aws, sam: &std::path::Path, parameters: &[(String, String)]) -> Result<PathBuf> {
        let plan = self.plan;
        rehearsal::package_and_transform(&rehearsal::TransformInput {
            sh: self.sh,
            aws,
            sam,
            project: plan.project,
            bucket: plan.env.s3_bucket.as_deref().unwrap_or_default(),
            parameters,
        })
    }

    fn sam_deploy(
        &mut self,
        aws: &Aws,
        sam: &std::path::Path,
        parameters: &[(String, String)],
        template: &std::path::Path,
    ) -> Result<sam_deploy::DeployOutcome> {
        let (plan, stack) = (self.plan, self.stack());
        let tags = stack_tags(&plan.env, self.git, self.attempt.deployer.as_deref());
        let empty_config = layout::empty_samconfig(&plan.project.sam_dir());
        let bucket = plan.env.s3_bucket.as_deref().unwrap_or_default();
        let config = if plan.in_samconfig {
            let defaulted = plan.defaults.iter().any(|d| d.starts_with("bucket "));
            sam_deploy::SamDeployConfig::Samconfig {
                path: &plan.samconfig_path,
                env: &plan.env.name,
                s3_bucket: defaulted.then_some(bucket),
            }
        } else {
            sam_deploy::SamDeployConfig::Defaults {
                empty_config: &empty_config,
                s3_bucket: bucket,
                capabilities: &sam_deploy::REHEARSAL_CAPABILITIES,
            }
        };
        let outcome = sam_deploy::sam_deploy(
            self.sh,
            aws,
            &sam_deploy::SamDeploy {
                sam,
                sam_dir: &plan.project.sam_dir(),
                config,
                stack,
                built_template: template,
                parameters,
                tags: &tags,
                dry_run: plan.args.dry_run,
                timeout: plan.project.sam_timeout(),
            },
        )?;
        self.attempt.change_set_id = outcome.change_set_id.clone();
        self.attempt.no_changes = Some(outcome.no_changes);
        if outcome.no_changes {
            say!("    no changes: {stack} already runs this template with these parameters");
        }
        Ok(outcome)
    }

    /// --dry-run: the change set, described; nothing executed.
    fn change_set(&mut self, aws: &Aws, outcome: &sam_deploy::DeployOutcome) -> Result<()> {
        match &outcome.change_set_id {
            Some(id) => {
                post_deploy::describe_change_set(self.sh, aws, id)?;
                say!(
                    "    dry run: nothing was executed; to discard the change set: {}",
                    aws.shown(&format!("cloudformation delete-change-set --change-set-name {id}"))
                );
            }
            None => say!("    dry run: no changes, so no change set"),
        }
        Ok(())
    }

    /// Each function's CodeSha256 as Lambda reports it, for the audit line; each live function
    /// compared with the build.
    fn deployed_code(&mut self, aws: &Aws) -> Result<()> {
        let plan = self.plan;
        let ids: Vec<&str> = plan.found.targets.iter().map(|t| t.config.logical_id.as_str()).collect();
        let resources = aws::stack::physical_ids(self.sh, aws, self.stack())?;
        let live = crate::evidence::deployed::read_step(self.sh, aws, self.stack(), &resources, &ids)?;
        self.attempt.deployed = live.iter().map(|l| l.code.clone()).collect();
        let rehearsal = plan.settings.rehearsal;
        post_deploy::check_live_functions(
            plan.project,
            &plan.found.targets,
            &resources,
            &live,
            rehearsal,
            &plan.env.name,
        )
    }
}

/// sam deploy or a post-deploy check failed: the doctor reads the stack, its events and the
/// function's logs since the deploy began, and prints what it finds under the failure.
fn run_doctor(pipeline: &mut Pipeline, aws: &Aws, plan: &Plan, err: anyhow::Error) -> anyhow::Error {
    if status_of(&err) == INTERRUPTED {
        return err;
    }
    let since = pipeline.elapsed() + Duration::from_secs(60);
    let since_text = format!("{}s", since.as_secs());
    let examination = crate::diagnosis::examine::Examination {
        project: plan.project,
        targets: &plan.found.targets,
        ctx: crate::diagnosis::Context {
            env: plan.env.name.clone(),
            stack: plan.env.stack_name.clone(),
            region: plan.region.clone(),
            profile: aws.profile.clone(),
        },
        function: None,
        since,
        since_text: &since_text,
    };
    crate::diagnosis::examine::explain_failure(pipeline, aws, &examination);
    err
}

/// The user's AWS variables a rehearsal passes on to aws and sam.
const REHEARSAL_KEEPS: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

/// Starts and seeds moto, and points aws and sam at it with dummy credentials: the user's
/// own credentials and profile are removed, so a rehearsal can never touch a real account.
fn start_local_aws(sh: &Shell, plan: &Plan, aws: &mut Aws) -> Result<(moto::MotoServer, Vec<(String, String)>)> {
    if !plan.defaults.is_empty() {
        let missing = if plan.in_samconfig {
            format!("not set in [{}.deploy.parameters] of {}", plan.env.name, plan.samconfig_shown)
        } else {
            format!("no [{}.deploy.parameters] in {}", plan.env.name, plan.samconfig_shown)
        };
        say!("    rehearsal defaults ({missing}): {}", plan.defaults.join(", "));
    }
    let executable = moto::locate(sh, &plan.project.config.deploy.moto_version)?;
    let sam_dir = plan.project.sam_dir();
    let server = moto::MotoServer::start(&moto::MotoStart {
        executable: &executable,
        log: &layout::moto_log(&sam_dir),
        account_id: plan.settings.account_id.as_deref(),
        work_dir: &layout::rehearsal_dir(&sam_dir),
        // What the rehearsal leaves is what lambda-doctor --env local reads, by replaying it.
        recording: moto::Recording::RecordTo(&layout::rehearsal_recording(&sam_dir)),
    })?;
    say!("    local AWS (moto, {}) at {}", executable.display(), server.endpoint_url());
    for name in redact::CREDENTIAL_VARIABLES.iter().chain(&["AWS_PROFILE", "AWS_DEFAULT_PROFILE"]) {
        aws.remove_env(name);
    }
    // Every other AWS setting of the user's environment too: AWS_ENDPOINT_URL_S3 would send
    // S3 calls elsewhere, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true to the real AWS, and
    // AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE or AWS_CONTAINER_CREDENTIALS_* are real
    // credentials. Only the region stays: it names no account.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("AWS_") && !REHEARSAL_KEEPS.contains(&name) {
            aws.remove_env(name);
        }
    }
    // A proxy would see (and could answer) the calls meant for moto.
    aws.set_env("NO_PROXY", "localhost,127.0.0.1");
    aws.set_env("no_proxy", "localhost,127.0.0.1");
    aws.set_env("AWS_ENDPOINT_URL", server.endpoint_url());
    aws.set_env("AWS_ACCESS_KEY_ID", "rehearsal");
    aws.set_env("AWS_SECRET_ACCESS_KEY", "rehearsal");
    aws.set_env("AWS_CONFIG_FILE", "/dev/null");
    aws.set_env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    aws.set_env("AWS_EC2_METADATA_DISABLED", "true");
    // moto answers at once; sam's default 5 s between polls would only add waiting.
    if std::env::var_os("SAM_CLI_POLL_DELAY").is_none() {
        aws.set_env("SAM_CLI_POLL_DELAY", "1");
    }
    let secrets: Vec<String> =
        preflight::secret_parameters(&plan.env).iter().map(|p| preflight::secret_name(&p.value)).collect();
    let mut seeded = moto::seed(sh, aws, &plan.env, &plan.template, &secrets)?;
    if !plan.placeholders.is_empty() {
        let shown: Vec<String> = plan.placeholders.iter().map(|(k, v)| format!("{k}={v}")).collect();
        say!("    placeholders for parameters with no Default and no override: {}", shown.join(", "));
        seeded.overrides.extend(plan.placeholders.iter().cloned());
    }
    if let Some(bucket) = &plan.settings.audit_bucket {
        crate::evidence::audit_bucket::create_locked(sh, aws, bucket)?;
        say!("    audit bucket {bucket} (Object Lock, COMPLIANCE, 7 years)");
    }
    Ok((server, seeded.overrides))
}

/// Each template parameter, in template order, with its value: computed, else samconfig's,
/// else the template's default.
fn all_parameters(template: &Template, env: &SamEnvironment, computed: &[(String, String)]) -> Vec<(String, String)> {
    template
        .parameters
        .iter()
        .filter_map(|param| {
            let value = computed
                .iter()
                .rev()
                .find(|(k, _)| *k == param.name)
                .map(|(_, v)| v.clone())
                .or_else(|| env.override_value(&param.name).map(|o| o.value.clone()))
                .or_else(|| param.default.clone())?;
            Some((param.name.clone(), value))
        })
        .collect()
}

/// samconfig's own tags, then what was deployed by whom: CloudFormation copies stack tags onto
/// every resource, so the function itself says which commit it runs.
fn stack_tags(env: &SamEnvironment, git: &GitState, deployer: Option<&str>) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = env.tags.iter().filter(|(k, _)| !k.starts_with("xtask:")).cloned().collect();
    tags.push(("xtask:git-commit".into(), git.commit_tag()));
    tags.push(("xtask:git-dirty".into(), git.dirty_tag().into()));
    tags.push(("xtask:deployer".into(), deployer.unwrap_or("unknown").into()));
    tags.push(("xtask:version".into(), crate::version::VERSION.into()));
    tags
}

/// The environment's check (see [`health`]): what ran, on what, with what answer, for the
/// output and the audit record, and whether it passed.
fn health_check(sh: &Shell, plan: &Plan, deployed: &aws::Stack) -> (health::HealthRecord, Result<()>) {
    use health::{HealthRecord, PlannedCheck, UrlSource};
    match &plan.health {
        PlannedCheck::Off => {
            say!("    health_check = \"off\" for {}: no check", plan.env.name);
            (HealthRecord::simple("off", true), Ok(()))
        }
        PlannedCheck::NoApi => {
            say!(
                "    no check: {} has no execute-api URL output; name one with health_check = {{ output = \"...\" }} in [workspace.metadata.lambda.deploy.environments.{}]",
                plan.project.config.template.display(),
                plan.env.name
            );
            let mut record = HealthRecord::simple("none", true);
            record.answer = Some("the template has no execute-api URL output and health_check names none".into());
            (record, Ok(()))
        }
        PlannedCheck::SmokeTests => smoke_tests(plan),
        PlannedCheck::Http { url, path, expect_status, expect_json } => {
            let (base, output) = match url {
                UrlSource::Given(url) => (url.clone(), None),
                UrlSource::Output(name) => match deployed.output(name) {
                    Some(value) => (value.to_string(), Some(name.clone())),
                    None => {
                        let mut record = HealthRecord::simple("http", false);
                        record.output = Some(name.clone());
                        let err = anyhow::anyhow!(
                            "stack {} has no output {name} to health-check: check the stack's Outputs, or pass --health-url",
                            plan.env.stack_name
                        );
                        return (record, Err(err));
                    }
                },
            };
            let url = health::join_url(&base, path.as_deref());
            let mut record = HealthRecord::simple("http", false);
            record.url = Some(url.clone());
            record.output = output;
            record.expected = Some(match expect_json {
                Some(json) => format!("{} with {json}", expect_status.describe()),
                None => expect_status.describe(),
            });
            let result = tools::host_python().and_then(|python| {
                post_deploy::http_health(sh, &python, &url, plan.health_timeout, *expect_status, expect_json.as_ref())
            });
            match result {
                Ok(answer) => {
                    record.answer = Some(answer);
                    record.passed = true;
                    (record, Ok(()))
                }
                Err(err) => {
                    record.answer = err.downcast_ref::<post_deploy::Unhealthy>().map(|u| u.last_answer.clone());
                    (record, Err(err))
                }
            }
        }
    }
}

/// The rehearsal's check: moto invokes no function (that needs Docker), so there is no API to
/// call; each built function's cold-start smoke test stands in for it, as lambda-build runs it.
fn smoke_tests(plan: &Plan) -> (health::HealthRecord, Result<()>) {
    let mut record = health::HealthRecord::simple("smoke-test", false);
    let mut failed = Vec::new();
    // Printed, annotated and recorded by the pipeline, as a guard step's are.
    let mut findings = Vec::new();
    for target in &plan.found.targets {
        let id = target.config.logical_id.clone();
        if target.config.smoke_test == crate::project::config::SmokeTestMode::Off {
            continue;
        }
        let report = match guards::suite::smoke_one(plan.project, &plan.found, target, None, sam_build::docker_answers)
        {
            Ok(Some(report)) => report,
            Ok(None) => {
                failed.push(id.clone());
                record.functions.push(health::FunctionCheck {
                    function: id,
                    answer: "no build output to invoke".into(),
                    passed: false,
                });
                continue;
            }
            Err(err) => return (record, Err(err)),
        };
        for note in &report.notes {
            say!("{}", crate::sys::redact::scrub(note));
        }
        let enforced = plan.allowed.enforce(report.findings.clone());
        let answer = match (report.findings.first(), &report.body) {
            (Some(finding), _) => finding.problem.clone(),
            (None, Some(body)) => format!("200 {}", body.chars().take(200).collect::<String>()),
            (None, None) => report.notes.iter().map(|n| n.trim()).collect::<Vec<_>>().join("; "),
        };
        let passed = enforced.is_empty();
        if !passed {
            failed.push(id.clone());
        }
        findings.extend(enforced);
        say!("    {id}: smoke test {}: {answer}", if passed { "passed" } else { "FAILED" });
        record.functions.push(health::FunctionCheck { function: id, answer: redact::scrub(&answer), passed });
    }
    record.passed = failed.is_empty();
    if failed.is_empty() {
        return (record, Ok(()));
    }
    let why = format!("the smoke test of {} failed", failed.join(", "));
    match findings.is_empty() {
        true => (record, Err(anyhow::anyhow!("{why} (above)"))),
        false => (record, Findings::fail_with(findings, &format!("{why}: fix the above and run again"))),
    }
}

/// Stops the deploy when there are findings: the pipeline prints, annotates and records each.
fn abort_on(findings: Vec<Finding>) -> Result<()> {
    Findings::fail_on(findings, "nothing was deployed; fix the above and run again")
}

/// Asks on the terminal; only an exact retype of the environment's name goes on.
fn confirm(plan: &Plan, git: &GitState) -> Result<()> {
    let env = &plan.env.name;
    let commit = git.commit.as_deref().map(|c| &c[..c.len().min(12)]).unwrap_or("no commit");
    let state = match git.dirty {
        Some(false) => "clean",
        Some(true) => "with uncommitted changes",
        None => "state unknown",
    };
    plan.ui.prompt(format_args!(
        "Deploy stack {} to {env} (account {}, region {}) from {commit} ({state})? Type {env} to go on: ",
        plan.env.stack_name,
        plan.settings.account_id.as_deref().unwrap_or("?"),
        plan.region
    ));
    let answer = read_line_unless_interrupted()?;
    if answer.trim() != env {
        return Err(anyhow::Error::new(Aborted(format!("not confirmed (typed {:?}, not {env:?})", answer.trim()))));
    }
    Ok(())
}

/// Reads one line from stdin on a thread, so that Ctrl-C at the prompt stops the deploy at
/// once instead of after the next Enter.
fn read_line_unless_interrupted() -> Result<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer).map(|_| answer);
        let _ = sender.send(read);
    });
    loop {
        crate::sys::process::check_interrupted()?;
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(read) => return read.context("reading the confirmation"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("reading the confirmation failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::samconfig::SamConfig;

    #[test]
    fn every_parameter_is_passed_with_computed_values_first() {
        let template = Template::parse(
            "Parameters:\n  A: {Type: String}\n  B: {Type: String, Default: x}\n  C: {Type: Number, Default: 1}\nResources: {}\n",
            "t",
        )
        .unwrap();
        let env = SamConfig::parse(
            "[e.deploy.parameters]\nstack_name = \"s\"\nparameter_overrides = [\"A=1\", \"B=2\"]\n".into(),
            "s",
        )
        .unwrap()
        .environment("e")
        .unwrap();
        let params = all_parameters(&template, &env, &[("B".into(), "3".into())]);
        assert_eq!(params, [("A".into(), "1".into()), ("B".into(), "3".into()), ("C".into(), "1".into())]);
    }

    #[test]
    fn xtask_tags_cannot_be_overridden_by_samconfig() {
        let env = SamConfig::parse(
            "[e.deploy.parameters]\nstack_name = \"s\"\ntags = \"team=a xtask:git-commit=forged\"\n".into(),
            "s",
        )
        .unwrap()
        .environment("e")
        .unwrap();
        let git = GitState { commit: Some("abc".into()), dirty: Some(false), ..GitState::default() };
        let tags = stack_tags(&env, &git, Some("arn:aws:iam::1:user/x"));
        assert_eq!(tags[0], ("team".into(), "a".into()));
        assert!(tags.contains(&("xtask:git-commit".into(), "abc".into())));
        assert!(!tags.iter().any(|(_, v)| v == "forged"));
    }
}
