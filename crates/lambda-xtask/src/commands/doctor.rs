//! `cargo xtask lambda-doctor --env ENV [--function LOGICAL_ID] [--since DURATION]`: from a
//! failed deploy or a broken live function to the cause and the fix command. Read-only: every
//! AWS call it makes is a describe, get or filter (see `diagnosis::read`).
//!
//! Exit 0: the stack is healthy and nothing matched; 1: a diagnosis (each a finding, in the
//! terminal, as CI annotations and in `--json`); 2: bad input.

use anyhow::Result;
use xshell::Shell;

use crate::aws::moto;
use crate::aws::{self, Aws};
use crate::bad_input;
use crate::cli::DoctorArgs;
use crate::commands::deploy::environment;
use crate::diagnosis::examine::Examination;
use crate::diagnosis::function::{names_a_secret, secret_name};
use crate::diagnosis::{self, signatures, Context};
use crate::project::config::Project;
use crate::project::samconfig::SamEnvironment;
use crate::project::target;
use crate::project::template::Template;
use crate::run::pipeline::Pipeline;
use crate::run::record::Finished;
use crate::sys::layout;
use crate::sys::tools;
use crate::ui::Ui;

pub fn run(ui: &Ui, args: &DoctorArgs) -> Result<Finished> {
    if args.print_signatures {
        say_out!("{}", signatures::markdown_table().trim_end_matches('\n'));
        return Ok(Finished::without_pipeline());
    }
    let Some(since) = diagnosis::parse_since(&args.since) else {
        bad_input!("--since {:?} is not a duration: write a number and a unit, e.g. 90s, 30m, 1h or 2d", args.since)
    };
    let project = Project::discover()?;
    let samconfig_shown = project.samconfig().display().to_string();
    let name = args.env.as_deref().unwrap_or_default();
    let settings = project.config.deploy.environment(name);
    // The rehearsal's environment as the rehearsal resolved it: no samconfig.toml or table
    // needed, the same default stack.
    let env = environment::resolve(
        &project.path(&project.samconfig()),
        &samconfig_shown,
        name,
        settings.rehearsal,
        &project.root,
    )?
    .sam;
    let template_shown = project.config.template.display().to_string();
    let template = Template::load(&project.template_path(), &template_shown)?;
    let targets = target::resolve_targets(&project, &template)?;
    check_function(args, &template, &template_shown)?;
    let region = env.region(&samconfig_shown)?;
    tools::check_obtainable(&tools::PythonTool::aws_cli(&project.config.deploy.awscli_version))?;
    // The rehearsal's AWS is moto: without an endpoint to read, the doctor starts it again.
    let local = settings.rehearsal && non_empty_var("AWS_ENDPOINT_URL").is_none();
    if local {
        tools::check_obtainable(&tools::PythonTool::moto_server(&project.config.deploy.moto_version))?;
    }

    let sh = Shell::new()?;
    let mut pipeline = Pipeline::new(ui, "lambda-doctor");
    let profile = if settings.rehearsal { None } else { env.profile.clone() };
    let mut aws = pipeline.step("aws-cli", || {
        let executable = aws::locate(&sh, &project.config.deploy.awscli_version)?;
        say!("    aws: {}", executable.display());
        Ok(Aws::new(executable, region.clone(), profile.clone()))
    })?;
    let _local_aws = if local {
        Some(pipeline.step("local-aws", || {
            start_local_aws(&sh, &project, &mut aws, &env, &template, settings.account_id.as_deref())
        })?)
    } else {
        None
    };

    let examination = Examination {
        project: &project,
        targets: &targets.targets,
        ctx: Context { env: env.name.clone(), stack: env.stack_name.clone(), region, profile },
        function: args.function.as_deref(),
        since,
        since_text: &args.since,
    };
    let result = examine(&mut pipeline, &aws, &examination);
    Ok(pipeline.finish(result))
}

/// The examination's steps on `pipeline`: read, then the diagnosis as a guard step (its
/// findings are printed, annotated in CI and land in the report; any fails the step).
pub fn examine(pipeline: &mut Pipeline, aws: &Aws, examination: &Examination) -> Result<()> {
    let observed = pipeline.step("read", || {
        let observed = examination.read(aws)?;
        match &observed.stack {
            Some(stack) => say!("    stack {} is {}", stack.stack_name, stack.stack_status),
            None => say!("    stack {} does not exist", examination.ctx.stack),
        }
        let events: usize = observed.events.iter().map(Vec::len).sum();
        say!("    {events} stack event(s), {} secret(s) named", observed.secrets.len());
        for function in &observed.functions {
            say!("    {}", function.config.summary());
            say!("      {} log event(s) in {} since {}", function.log_events.len(), function.log_group, observed.since);
        }
        Ok(observed)
    })?;
    pipeline.guard_step("diagnosis", || {
        let diagnosis = examination.diagnose(&observed)?;
        for note in &diagnosis.notes {
            say!("    note: {note}");
        }
        if diagnosis.healthy() {
            say!("    healthy: the stack is complete and no known failure shows in the logs");
        }
        Ok(diagnosis.findings)
    })
}

/// `--function` names a function of the template.
fn check_function(args: &DoctorArgs, template: &Template, template_shown: &str) -> Result<()> {
    if let Some(function) = &args.function {
        if template.function(function).is_none() {
            let known: Vec<&str> = template.functions.iter().map(|f| f.logical_id.as_str()).collect();
            bad_input!(
                "--function {function}: {template_shown} has no function of that logical id (it has: {})",
                known.join(", ")
            )
        }
    }
    Ok(())
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// moto again, for `--env local` without an endpoint: the last rehearsal's requests, recorded
/// as it ran, are replayed into it, so that it holds the stack the rehearsal left (deployed or
/// failed). With no recording (no rehearsal ran here), the rehearsal's seeded state is made
/// again (bucket, VPC, endpoint, secrets) and the stack is missing, which the diagnosis says
/// (`stack-missing`).
fn start_local_aws(
    sh: &Shell,
    project: &Project,
    aws: &mut Aws,
    env: &SamEnvironment,
    template: &Template,
    account_id: Option<&str>,
) -> Result<moto::MotoServer> {
    let executable = moto::locate(sh, &project.config.deploy.moto_version)?;
    let sam_dir = project.sam_dir();
    let recording = layout::rehearsal_recording(&sam_dir);
    let recorded = recording.is_file();
    let work_dir = layout::rehearsal_dir(&sam_dir).join("doctor");
    let server = moto::MotoServer::start(&moto::MotoStart {
        executable: &executable,
        log: &layout::aws_sam_dir(&sam_dir).join("moto-server-doctor.log"),
        account_id,
        work_dir: &work_dir,
        recording: if recorded { moto::Recording::ReplayFrom(&recording) } else { moto::Recording::None },
    })?;
    say!("    local AWS (moto) at {}", server.endpoint_url());
    for name in crate::sys::redact::CREDENTIAL_VARIABLES.iter().chain(&["AWS_PROFILE", "AWS_DEFAULT_PROFILE"]) {
        aws.remove_env(name);
    }
    aws.set_env("NO_PROXY", "localhost,127.0.0.1");
    aws.set_env("no_proxy", "localhost,127.0.0.1");
    aws.set_env("AWS_ENDPOINT_URL", server.endpoint_url());
    aws.set_env("AWS_ACCESS_KEY_ID", "rehearsal");
    aws.set_env("AWS_SECRET_ACCESS_KEY", "rehearsal");
    aws.set_env("AWS_CONFIG_FILE", "/dev/null");
    aws.set_env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    aws.set_env("AWS_EC2_METADATA_DISABLED", "true");
    if recorded {
        let requests =
            crate::sys::beneath::read(&recording).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0);
        server.replay(project.sam_timeout())?;
        say!(
            "    replayed the last rehearsal into it: {requests} request(s) from {}",
            recording.strip_prefix(&project.root).unwrap_or(&recording).display()
        );
        return Ok(server);
    }
    say!(
        "    no rehearsal recorded at {}: the local AWS holds only what a rehearsal seeds",
        recording.strip_prefix(&project.root).unwrap_or(&recording).display()
    );
    let secrets: Vec<String> =
        env.overrides.iter().filter(|o| names_a_secret(&o.key, &o.value)).map(|o| secret_name(&o.value)).collect();
    moto::seed(sh, aws, env, template, &secrets)?;
    Ok(server)
}
