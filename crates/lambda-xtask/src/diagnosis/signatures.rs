//! The table of known failures: what to look for, the cause in one sentence, the seed issue it
//! corresponds to, and the fix command. docs/commands.md's lambda-doctor table is this table (a test
//! keeps the two in step); the matchers in `stack`, `logs` and `function` name their entry by id
//! and fill the fix's `<placeholders>` with what they read.

/// Where a signature is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `describe-stacks`: the stack's status.
    StackStatus,
    /// `describe-stack-events`: the reason of a root-cause FAILED event.
    StackEvent,
    /// `filter-log-events` on `/aws/lambda/<function>`.
    Log,
    /// `describe-secret` of a secret the stack or the function names.
    Secret,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::StackStatus => "stack status",
            Source::StackEvent => "stack event",
            Source::Log => "function log",
            Source::Secret => "secret",
        }
    }
}

#[derive(Debug)]
pub struct Signature {
    /// The finding's name (its `guard` field), e.g. `stack-rollback-complete`.
    pub id: &'static str,
    pub source: Source,
    /// What is matched, as a reader would search for it.
    pub look_for: &'static str,
    /// The cause, in one sentence.
    pub cause: &'static str,
    /// The seed incident's issue it corresponds to, where there is one.
    pub seed: Option<&'static str>,
    /// The fix; `<placeholders>` are filled from what was read (`<aws-opts>` is the region and
    /// profile of the environment).
    pub fix: &'static str,
}

pub const ROLLBACK_COMPLETE: &str = "stack-rollback-complete";
pub const UPDATE_ROLLBACK_FAILED: &str = "stack-update-rollback-failed";
pub const STACK_FAILED: &str = "stack-failed";
pub const STACK_MISSING: &str = "stack-missing";
pub const IMPORT_NOT_EXPORTED: &str = "import-not-exported";
pub const ENDPOINT_EXISTS: &str = "endpoint-already-exists";
pub const NOT_AUTHORIZED: &str = "not-authorized";
pub const NO_MODULE_SRC: &str = "import-missing-source";
pub const NO_MODULE_DEPENDENCY: &str = "import-missing-dependency";
pub const SDK_MISMATCH: &str = "aws-sdk-mismatch";
pub const WINDOWS_BINARY: &str = "windows-binary";
pub const INVALID_ELF: &str = "invalid-elf-header";
pub const WRONG_ELF_CLASS: &str = "wrong-elf-class";
pub const MISSING_SHARED_LIBRARY: &str = "missing-shared-library";
pub const GLIBC_TOO_NEW: &str = "glibc-too-new";
pub const VPC_TIMEOUT: &str = "vpc-endpoint-timeout";
pub const SECRET_DELETED: &str = "secret-marked-for-deletion";
pub const SECRET_ACCESS_DENIED: &str = "secret-access-denied";
pub const UNRECOGNISED_STACK_FAILURE: &str = "unrecognised-stack-failure";
pub const UNRECOGNISED_LOG_ERROR: &str = "unrecognised-log-error";

pub const SIGNATURES: &[Signature] = &[
    Signature {
        id: ROLLBACK_COMPLETE,
        source: Source::StackStatus,
        look_for: "stack status `ROLLBACK_COMPLETE`",
        cause: "the stack's first create failed and was rolled back; CloudFormation can only delete it, so every deploy fails until it is gone",
        seed: Some("symptom 1 (ROLLBACK_COMPLETE)"),
        fix: "cargo xtask lambda-deploy --env <env> --replace-failed-stack (or aws cloudformation delete-stack --stack-name <stack> <aws-opts>), after fixing the root cause below",
    },
    Signature {
        id: UPDATE_ROLLBACK_FAILED,
        source: Source::StackStatus,
        look_for: "stack status `UPDATE_ROLLBACK_FAILED`",
        cause: "an update failed and so did its rollback, which leaves the stack locked until the rollback is continued",
        seed: Some("symptom 1 (a stack sam cannot update)"),
        fix: "aws cloudformation continue-update-rollback --stack-name <stack> <aws-opts><skip>, then deploy again",
    },
    Signature {
        id: STACK_FAILED,
        source: Source::StackStatus,
        look_for: "any other stack status ending in `_FAILED`",
        cause: "CloudFormation left the stack half-done",
        seed: None,
        fix: "aws cloudformation describe-stack-events --stack-name <stack> <aws-opts> (the root cause is shown below), fix it, then deploy again",
    },
    Signature {
        id: STACK_MISSING,
        source: Source::StackStatus,
        look_for: "`describe-stacks`: `Stack with id <stack> does not exist`",
        cause: "nothing is deployed under this stack name in this account and region",
        seed: None,
        fix: "cargo xtask lambda-deploy --env <env> (or check the account and region: aws sts get-caller-identity)",
    },
    Signature {
        id: IMPORT_NOT_EXPORTED,
        source: Source::StackStatus,
        look_for: "`No export named <name> found` (the change set, or reading the stack)",
        cause: "the template imports (Fn::ImportValue) an export that no stack of this account and region has, so CloudFormation refuses the change set",
        seed: None,
        fix: "deploy first the stack that exports <name> (the app's README names its prerequisite stacks) in this account and region, or fix the name the template imports; aws cloudformation list-exports <aws-opts> lists what is exported",
    },
    Signature {
        id: ENDPOINT_EXISTS,
        source: Source::StackEvent,
        look_for: "`AWS::EC2::VPCEndpoint` FAILED with `already exists` or `conflicting DNS domain`",
        cause: "the VPC already has a Secrets Manager endpoint with private DNS, and the template creates a second one",
        seed: Some("issue 1 (VPC endpoint already exists)"),
        fix: "pass the existing endpoint: add \"ExistingSecretsManagerVpcEndpoint=<endpoint>\" to parameter_overrides in [<env>.deploy.parameters] of samconfig.toml (find it with aws ec2 describe-vpc-endpoints --filters Name=vpc-id,Values=<vpc> Name=service-name,Values=com.amazonaws.<region>.secretsmanager <aws-opts>)",
    },
    Signature {
        id: NOT_AUTHORIZED,
        source: Source::StackEvent,
        look_for: "`is not authorized to perform: <action>` (stack event or log line)",
        cause: "the principal that deploys (or runs) lacks an IAM permission the operation needs",
        seed: Some("issue 1 (ec2:CreateVpcEndpoint not authorized)"),
        fix: "grant <action> to <principal> (check with aws iam simulate-principal-policy --policy-source-arn <principal> --action-names <action> <aws-opts>)<endpoint-hint>",
    },
    Signature {
        id: NO_MODULE_SRC,
        source: Source::Log,
        look_for: "`Runtime.ImportModuleError` with `No module named 'src'`",
        cause: "the artifact lacks the backend source: copy-backend did not run before sam build",
        seed: Some("issue 5 (missing FastAPI source)"),
        fix: "cargo xtask lambda-deploy --env <env> (it builds afresh and copies the backend in; lambda-build's missing-source guard checks it)",
    },
    Signature {
        id: NO_MODULE_DEPENDENCY,
        source: Source::Log,
        look_for: "`Runtime.ImportModuleError` / `ModuleNotFoundError` with `No module named '<module>'`, another module",
        cause: "the package is not in the artifact (missing from requirements.txt) or was built for another platform, so its compiled part does not load",
        seed: Some("issue 6 (platform-incompatible binaries)"),
        fix: "add the distribution that provides <module> to <requirements> if it is missing, then cargo xtask lambda-deploy --env <env>; if it is listed, cargo xtask lambda-check names the foreign binary",
    },
    Signature {
        id: SDK_MISMATCH,
        source: Source::Log,
        look_for: "`cannot import name 'six' from 'botocore.compat'`, or any `cannot import name` / `No module named` from boto3, botocore or s3transfer",
        cause: "a bundled boto3/botocore/s3transfer shadows the runtime's SDK and its versions do not fit together",
        seed: Some("issue 2 (boto3/botocore six)"),
        fix: "remove what pulls boto3 into the artifact (cargo xtask lambda-check: the bundled-aws-sdk guard names the chain, e.g. watchtower -> boto3) and let the runtime's SDK serve, or pin boto3, botocore and s3transfer to one matching release set in <requirements>; then cargo xtask lambda-deploy --env <env>",
    },
    Signature {
        id: WINDOWS_BINARY,
        source: Source::Log,
        look_for: "`module 'os' has no attribute 'add_dll_directory'`",
        cause: "a package in the artifact is a Windows wheel (delvewheel patch) that calls a Windows-only function on Linux",
        seed: Some("issue 6 (os.add_dll_directory)"),
        fix: "cargo xtask lambda-deploy --env <env> (lambda-build cleans the function dir and installs Linux wheels; cargo xtask lambda-check shows the file)",
    },
    Signature {
        id: INVALID_ELF,
        source: Source::Log,
        look_for: "`invalid ELF header`",
        cause: "a compiled module in the artifact is not a Linux binary (Mach-O from macOS or PE from Windows)",
        seed: Some("issue 6 (macOS packages in the function dir)"),
        fix: "cargo xtask lambda-deploy --env <env> (the platform-binary guard rejects foreign binaries; cargo xtask lambda-check shows the file)",
    },
    Signature {
        id: WRONG_ELF_CLASS,
        source: Source::Log,
        look_for: "`wrong ELF class: ELFCLASS32` (or 64)",
        cause: "a compiled module was built for a 32-bit (or other-width) platform than the function's <arch>",
        seed: Some("issue 6 (platform-incompatible binaries)"),
        fix: "cargo xtask lambda-deploy --env <env> (the platform-binary guard checks every ELF against the function's architecture)",
    },
    Signature {
        id: MISSING_SHARED_LIBRARY,
        source: Source::Log,
        look_for: "`cannot open shared object file`",
        cause: "a compiled module links a shared library the Lambda runtime does not have (a wheel built against the build host's system libraries)",
        seed: Some("issue 6 (platform-incompatible binaries)"),
        fix: "use a manylinux wheel that bundles <library> (e.g. psycopg2-binary, not psycopg2 built from source) in <requirements>, then cargo xtask lambda-deploy --env <env>",
    },
    Signature {
        id: GLIBC_TOO_NEW,
        source: Source::Log,
        look_for: "`GLIBC_2.xx' not found`",
        cause: "a compiled module needs a newer glibc than the runtime's OS provides",
        seed: Some("issue 6 (platform-incompatible binaries)"),
        fix: "cargo xtask lambda-deploy --env <env> (the python-abi guard refuses wheels newer than the runtime's glibc <glibc>; pin an older release of the package or move to a newer python runtime)",
    },
    Signature {
        id: VPC_TIMEOUT,
        source: Source::Log,
        look_for: "`Task timed out after` in a function with VpcConfig, whose Secrets Manager endpoint's security group does not admit the function's",
        cause: "the function cannot reach Secrets Manager through the VPC endpoint, so the call hangs until the function times out",
        seed: Some("issue 3 (Lambda timeout, VPC connectivity)"),
        fix: "aws ec2 authorize-security-group-ingress --group-id <endpoint-group> --protocol tcp --port 443 --source-group <function-group> <aws-opts>; then keep the rule in the infrastructure code so a rebuild does not lose it",
    },
    Signature {
        id: SECRET_DELETED,
        source: Source::Secret,
        look_for: "log line `marked for deletion`, or a secret the stack or function names with a `DeletedDate`",
        cause: "the secret the function reads is scheduled for deletion, so every read fails",
        seed: Some("issue 4 (deleted secrets at credmate/prod/)"),
        fix: "aws secretsmanager restore-secret --secret-id <secret> <aws-opts>, or point <parameter> in [<env>.deploy.parameters] of samconfig.toml at the live secret (aws secretsmanager list-secrets --filters Key=name,Values=<prefix> <aws-opts>) and deploy",
    },
    Signature {
        id: SECRET_ACCESS_DENIED,
        source: Source::Log,
        look_for: "`AccessDeniedException` on `secretsmanager:GetSecretValue`",
        cause: "the function's execution role may not read the secret it asks for (its policy names another ARN, or the secret's resource policy refuses it)",
        seed: Some("issue 4 (secret path mismatch)"),
        fix: "aws iam simulate-principal-policy --policy-source-arn <role> --action-names secretsmanager:GetSecretValue --resource-arns <secret> <aws-opts>; grant it in the template (AWSSecretsManagerGetSecretValuePolicy with SecretArn: <secret>) or point the function at the secret its policy names, then deploy",
    },
    Signature {
        id: UNRECOGNISED_STACK_FAILURE,
        source: Source::StackEvent,
        look_for: "a root-cause FAILED event no entry above explains",
        cause: "a failure this table does not know: shown raw",
        seed: None,
        fix: "read the event's reason above; aws cloudformation describe-stack-events --stack-name <stack> <aws-opts> shows all",
    },
    Signature {
        id: UNRECOGNISED_LOG_ERROR,
        source: Source::Log,
        look_for: "an error line (`[ERROR]`, `...Error:`, `...Exception:`, `Status: error`) no entry above explains",
        cause: "a failure this table does not know: its last error lines are shown raw",
        seed: None,
        fix: "read the lines above; aws logs tail <log-group> --since <since> <aws-opts> shows them in context",
    },
];

pub fn signature(id: &str) -> &'static Signature {
    SIGNATURES.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no signature {id}"))
}

/// A signature's fix with its placeholders filled; unknown placeholders stay as they are.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_string();
    for (key, value) in values {
        text = text.replace(&format!("<{key}>"), value);
    }
    text
}

/// The table as markdown, as docs/commands.md's lambda-doctor section shows it.
pub fn markdown_table() -> String {
    let mut md = String::from(
        "| finding | read from | look for | cause | seed | fix |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for s in SIGNATURES {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | `{}` |\n",
            s.id,
            s.source.label(),
            s.look_for.replace('|', "\\|"),
            s.cause,
            s.seed.unwrap_or("-"),
            s.fix.replace('|', "\\|").replace('`', ""),
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_entry_is_complete() {
        let mut ids: Vec<&str> = SIGNATURES.iter().map(|s| s.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), SIGNATURES.len());
        for s in SIGNATURES {
            assert!(!s.look_for.is_empty() && !s.cause.is_empty() && !s.fix.is_empty(), "{}", s.id);
            assert!(!s.cause.contains(". "), "{}: the cause is one sentence", s.id);
        }
    }

    #[test]
    fn the_commands_doc_shows_the_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/commands.md")).unwrap();
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/commands.md's lambda-doctor section must hold the signature table as printed by \
             `diagnosis::signatures::markdown_table` (cargo xtask lambda-doctor --print-signatures):\n{table}"
        );
    }

    #[test]
    fn fill_replaces_known_placeholders_only() {
        assert_eq!(fill("a <x> b <y>", &[("x", "1")]), "a 1 b <y>");
    }
}
