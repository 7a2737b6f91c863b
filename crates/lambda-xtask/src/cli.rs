//! Every flag and command name, as clap parses them. The command modules take their
//! arguments from here; the name a report or a log line gives a command is [`Command::name`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::build::sam_build::ContainerMode;

#[derive(Parser)]
#[command(name = "cargo xtask", version, about = "Build and deploy the Lambda backend with guards")]
pub struct Cli {
    /// CI mode: never prompt, no colour or progress, GitHub annotations for findings and a
    /// step summary in $GITHUB_STEP_SUMMARY. On by itself when CI=true or GITHUB_ACTIONS=true.
    #[arg(long, global = true)]
    pub ci: bool,
    /// Also write a machine-readable report of the run to FILE (JSON; schema in
    /// crates/lambda-xtask/schemas/report.v1.schema.json), whatever the outcome.
    #[arg(long, global = true, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the variants are the command names users type: lambda-*
pub enum Command {
    /// Copy the backend in, clean the function dir, run the guards and `sam build`.
    #[command(name = LAMBDA_BUILD)]
    LambdaBuild(BuildArgs),
    /// Run the guards on the current tree and build output, without building.
    #[command(name = LAMBDA_CHECK)]
    LambdaCheck(CheckArgs),
    /// Adopt the xtask here: write the one-line config, ignore its outputs, show what it found.
    #[command(name = LAMBDA_INIT)]
    LambdaInit(InitArgs),
    /// Build, run the AWS preflight, `sam deploy`, check the deployed stack, record the attempt.
    #[command(name = LAMBDA_DEPLOY)]
    LambdaDeploy(DeployArgs),
    /// Check the audit log's hash chain, or show its attempts as a table.
    #[command(name = LAMBDA_AUDIT)]
    LambdaAudit(AuditArgs),
    /// From a failed deploy or a broken live function to the cause and the fix (read-only).
    #[command(name = LAMBDA_DOCTOR)]
    LambdaDoctor(DoctorArgs),
}

/// The commands' names as users type them (clap takes them from here), and as reports and
/// log lines give them.
pub const LAMBDA_BUILD: &str = "lambda-build";
pub const LAMBDA_CHECK: &str = "lambda-check";
pub const LAMBDA_INIT: &str = "lambda-init";
pub const LAMBDA_DEPLOY: &str = "lambda-deploy";
pub const LAMBDA_AUDIT: &str = "lambda-audit";
pub const LAMBDA_DOCTOR: &str = "lambda-doctor";

impl Command {
    /// The name the user typed, from clap's own definition (tested against it).
    pub fn name(&self) -> &'static str {
        match self {
            Command::LambdaBuild(_) => LAMBDA_BUILD,
            Command::LambdaCheck(_) => LAMBDA_CHECK,
            Command::LambdaInit(_) => LAMBDA_INIT,
            Command::LambdaDeploy(_) => LAMBDA_DEPLOY,
            Command::LambdaAudit(_) => LAMBDA_AUDIT,
            Command::LambdaDoctor(_) => LAMBDA_DOCTOR,
        }
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Where sam build runs: in a Docker container, natively, or container when Docker answers.
    #[arg(long, value_enum, default_value_t = ContainerMode::Auto)]
    pub container: ContainerMode,
    /// List what clean would remove and what copy-backend would replace; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Build even when nothing changed since the last successful build.
    #[arg(long)]
    pub force: bool,
    /// Show this guard's findings but do not stop on them, for this run only (repeatable).
    #[arg(long = "allow", value_name = "GUARD")]
    pub allow: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run only the file-level guards (stale installed packages, platform binaries, Python
    /// ABI) on this directory, which need not be in a repository.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The Lambda runtime --dir is checked against [default: the first function's, else python3.11].
    #[arg(long, requires = "dir", value_name = "RUNTIME")]
    pub runtime: Option<String>,
    /// The architecture --dir is checked against: x86_64 or arm64 [default: the first function's, else x86_64].
    #[arg(long, requires = "dir", value_name = "ARCH")]
    pub arch: Option<String>,
    /// Show this guard's findings but do not fail on them, for this run only (repeatable).
    #[arg(long = "allow", value_name = "GUARD")]
    pub allow: Vec<String>,
    /// With --deployed: the samconfig.toml environment whose live functions are compared.
    #[arg(long, requires = "deployed", value_name = "ENV")]
    pub env: Option<String>,
    /// Instead of the guards: whether the code Lambda runs in ENV is the build at hand (its
    /// CodeSha256 against the build's reproducible zip, else the audit log's record of the
    /// deploy and that deploy's artifact digest). Exits 1 when it is not, or cannot be told.
    #[arg(long, requires = "env", conflicts_with = "dir")]
    pub deployed: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The environment: a `[<env>.deploy.parameters]` table of samconfig.toml (dev, prod), or
    /// `local`, the rehearsal against moto, which needs no table.
    #[arg(long)]
    pub env: String,
    /// Reuse the build output when its manifest proves it current (else build): the default,
    /// accepted for scripts written when a deploy always rebuilt.
    #[arg(long, conflicts_with = "force")]
    pub skip_build: bool,
    /// Rebuild (and re-package) even when the build output is current.
    #[arg(long)]
    pub force: bool,
    /// Where sam build runs (as for lambda-build).
    #[arg(long, value_enum, default_value_t = ContainerMode::Auto)]
    pub container: ContainerMode,
    /// Create and describe the change set, execute nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy a protected environment without asking; required where no terminal can ask.
    #[arg(long)]
    pub yes: bool,
    /// Deploy a protected environment from a tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Deploy a protected environment from a commit that no remote branch contains (recorded
    /// in the audit line as such).
    #[arg(long)]
    pub allow_unpushed: bool,
    /// Delete the stack first if it is in ROLLBACK_COMPLETE (that state only), then deploy.
    #[arg(long)]
    pub replace_failed_stack: bool,
    /// Health-check this URL instead of the one the environment's health_check names.
    #[arg(long)]
    pub health_url: Option<String>,
    /// Seconds the health check keeps retrying (default: from the config, 120).
    #[arg(long)]
    pub health_timeout: Option<u64>,
    /// Show this guard's findings but do not stop on them, for this run only (repeatable), as
    /// for lambda-build; the rehearsal's smoke tests honour it too.
    #[arg(long = "allow", value_name = "GUARD")]
    pub allow: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The environment: a `[<env>.deploy.parameters]` table of samconfig.toml (dev, prod, local).
    #[arg(long, required_unless_present = "print_signatures")]
    pub env: Option<String>,
    /// Only this function (its logical id in the template).
    #[arg(long, value_name = "LOGICAL_ID")]
    pub function: Option<String>,
    /// How far back to read the functions' logs: 90s, 30m, 1h, 2d.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub since: String,
    /// Print the table of known failures (markdown) and exit.
    #[arg(long)]
    pub print_signatures: bool,
}

/// `lambda-init`'s flags.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The SAM template, relative to the current directory [default: the one template.yaml or
    /// template.yml found here or below].
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Where xtask/Cargo.toml takes the library from: this git repository (with --tag or --rev)
    /// [default: where this binary was installed from, else the clone it was built in].
    #[arg(long, value_name = "URL", conflicts_with = "path")]
    pub git: Option<String>,
    /// With --git: the tag to depend on; upgrading is changing it.
    #[arg(long, requires = "git", conflicts_with = "rev")]
    pub tag: Option<String>,
    /// With --git: the commit to depend on.
    #[arg(long, requires = "git")]
    pub rev: Option<String>,
    /// Depend on the library by path instead (a clone on this machine, or a vendored copy).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; names the first broken line and exits 1 when there is one.
    Verify {
        /// The log [default: the configured deploy log].
        file: Option<PathBuf>,
    },
    /// Print the attempts as a table: env, time, who, commit, artifact digest, result.
    Show {
        /// The log [default: the configured deploy log].
        file: Option<PathBuf>,
        /// Only this environment's attempts.
        #[arg(long)]
        env: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The names reports and log lines use are the ones clap parses.
    #[test]
    fn command_names_are_clap_names() {
        let clap_names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
        assert_eq!(clap_names, [LAMBDA_BUILD, LAMBDA_CHECK, LAMBDA_INIT, LAMBDA_DEPLOY, LAMBDA_AUDIT, LAMBDA_DOCTOR]);
        let cli = Cli::try_parse_from(["cargo xtask", "lambda-deploy", "--env", "dev"]).unwrap();
        assert_eq!(cli.command.name(), LAMBDA_DEPLOY);
    }
}
