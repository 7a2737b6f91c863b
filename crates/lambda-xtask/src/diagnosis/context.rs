//! The names a diagnosis is written with, shared by the readers and the matchers.

/// Who and where: the names fixes are written with.
#[derive(Debug, Clone)]
pub struct Context {
    pub env: String,
    pub stack: String,
    pub region: String,
    pub profile: Option<String>,
}

impl Context {
    /// `--region R [--profile P]`, appended to every aws command of a fix.
    pub fn aws_opts(&self) -> String {
        match &self.profile {
            Some(profile) => format!("--region {} --profile {profile}", self.region),
            None => format!("--region {}", self.region),
        }
    }
}

/// A log line pointed at a file or package of the artifact: the local build output is worth
/// checking with the guards when it is what was deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLead {
    pub logical_id: String,
    pub signature: &'static str,
    /// A path inside the artifact (`psycopg2`, `pydantic_core/_pydantic_core`), or `boto3` for
    /// the SDK.
    pub needle: String,
}
