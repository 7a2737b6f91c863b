//! Where sam and the xtask keep their work: `.aws-sam/` beside the template (ignored by git).
//! Every path into it is joined here and nowhere else.

use std::path::{Path, PathBuf};

/// The build manifest's file name.
pub const MANIFEST_NAME: &str = "xtask-build-manifest.json";

/// SAM's work dir: `<sam dir>/.aws-sam`.
pub fn aws_sam_dir(sam_dir: &Path) -> PathBuf {
    sam_dir.join(".aws-sam")
}

/// SAM's build output: `.aws-sam/build`.
pub fn build_dir(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join("build")
}

/// Where sam build puts one function: `.aws-sam/build/<LogicalId>`.
pub fn artifact_dir(sam_dir: &Path, logical_id: &str) -> PathBuf {
    build_dir(sam_dir).join(logical_id)
}

/// The template sam build writes and sam deploy reads: `.aws-sam/build/template.yaml`.
pub fn built_template(sam_dir: &Path) -> PathBuf {
    build_dir(sam_dir).join("template.yaml")
}

/// The xtask's own dir inside sam's: the derived template and the staged code.
pub fn xtask_dir(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join("xtask")
}

/// The staged copy of function dirs that hold the xtask's own files (the repository root):
/// mirrors the repository, so a file's path below it is its path in the repository.
pub fn stage_dir(sam_dir: &Path) -> PathBuf {
    xtask_dir(sam_dir).join("stage")
}

/// A layer the xtask built itself with uv (its BuildMethod's Python is not here, and sam's
/// python-uv does not build layers): ContentUri of the derived template.
pub fn prebuilt_layer_dir(sam_dir: &Path, logical_id: &str) -> PathBuf {
    xtask_dir(sam_dir).join("layers").join(logical_id)
}

/// The lock one xtask run holds per repository: `.aws-sam/xtask.lock`.
pub fn lock_file(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join("xtask.lock")
}

/// The last successful build's manifest, beside the build output.
pub fn build_manifest(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join(MANIFEST_NAME)
}

/// The local AWS's log during a rehearsal.
pub fn moto_log(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join("moto-server.log")
}

/// The rehearsal's own work: the packaged and transformed templates, moto's extension, the
/// list of stand-ins, and the recording of every request made to moto, which the doctor
/// replays to read what the rehearsal left: `.aws-sam/xtask-rehearsal/`.
pub fn rehearsal_dir(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join("xtask-rehearsal")
}

/// The last rehearsal's requests to its moto, in order.
pub fn rehearsal_recording(sam_dir: &Path) -> PathBuf {
    rehearsal_dir(sam_dir).join("moto-recording.jsonl")
}

/// The empty config file sam deploy reads for an environment without a samconfig table (the
/// rehearsal's defaults), so it reads no other table of the user's samconfig.toml.
pub fn empty_samconfig(sam_dir: &Path) -> PathBuf {
    aws_sam_dir(sam_dir).join("xtask-samconfig.toml")
}
