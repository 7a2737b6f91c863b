//! End to end: each guard stops the real xtask binary on a copy of this repository, with exit
//! status 1 and the offending path named; the sample's real build passes them all.
//!
//! The real SAM CLI builds wherever it can produce the state under test (a requirement that
//! pulls boto3 in, a pinned botocore that breaks the runtime's SDK, a handler importing a
//! package only the host has). A fake `sam` that lays
//! down a prepared build output is used only for states the real one cannot produce here: a
//! Windows package copied over the build, a bundled SDK with mismatched pins.

use std::fs;
use std::path::Path;

use crate::support::wheels::{self, WheelSpec};
use crate::support::{run, FakeBin, RepoCopy};

const FUNCTION_DIR: &str = "infra/lambda/functions/backend";
const ARTIFACT: &str = "infra/lambda/.aws-sam/build/BackendFunction";

fn real_build(repo: &RepoCopy, extra_args: &[&str]) -> (i32, String) {
    run(repo.xtask().args(["lambda-build", "--container", "never"]).args(extra_args))
}

fn last_line(output: &str) -> &str {
    output.trim_end().lines().last().unwrap_or_default()
}

/// A build output as sam leaves it when the function dir held installed packages: the
/// function's own files, with the given wheels installed on top (copied, never resolved).
fn prepared_artifact(repo: &RepoCopy, installed: &[WheelSpec]) -> tempfile::TempDir {
    let prepared = tempfile::tempdir().unwrap();
    for file in ["handler.py", "requirements.txt"] {
        fs::copy(repo.path(&format!("{FUNCTION_DIR}/{file}")), prepared.path().join(file)).unwrap();
    }
    fs::create_dir_all(prepared.path().join("src")).unwrap();
    for entry in fs::read_dir(repo.path("backend/src")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), prepared.path().join("src").join(entry.file_name())).unwrap();
    }
    for spec in installed {
        wheels::install_into(*spec, prepared.path());
    }
    prepared
}

/// A fake sam whose "build" copies `prepared` to where sam puts the function.
fn sam_laying_down(repo: &RepoCopy, prepared: &Path) -> FakeBin {
    let bin = FakeBin::new();
    let artifact = repo.path(ARTIFACT);
    bin.add_script("sam", &format!("mkdir -p '{0}' && cp -R '{1}/.' '{0}/'", artifact.display(), prepared.display()));
    bin
}

fn allow_bundled_sdk_in_config(repo: &RepoCopy) {
    let manifest = repo.path("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    let text = text.replace("allowlist = [", "allow_bundled_aws_sdk = true\nallowlist = [");
    fs::write(manifest, text).unwrap();
}

#[test]
fn the_sample_build_passes_every_guard_including_the_smoke_test() {
    let repo = RepoCopy::new();
    let (status, output) = real_build(&repo, &[]);
    assert_eq!(status, 0, "{output}");
    for step in ["pre-build-guards", "sam-build", "post-build-guards", "smoke-test"] {
        assert!(output.contains(&format!("[lambda-build] {step} done in")), "step {step} not reported:\n{output}");
    }
    assert!(output.contains("GET /health -> statusCode 200"), "{output}");
    // The real build holds Linux .so files (pydantic_core, psycopg2) and psycopg2_binary.libs/:
    // no guard may object to them.
    assert!(repo.path(ARTIFACT).join("psycopg2_binary.libs").is_dir());
    for guard in ["platform-binary", "python-abi", "bundled-aws-sdk", "dependency-consistency", "smoke-test"] {
        assert!(!output.contains(&format!("[{guard}]")), "false positive from {guard}:\n{output}");
    }

    // lambda-check on the built tree agrees, without building.
    let (status, output) = run(repo.xtask().arg("lambda-check"));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("[lambda-check] post-build-guards done"), "{output}");
}

#[test]
fn a_windows_binary_renamed_so_in_the_backend_source_stops_the_build_before_sam() {
    let repo = RepoCopy::new();
    let module = "backend/src/fastjson/_speedups.cpython-311-x86_64-linux-gnu.so";
    wheels::extract_member(wheels::PSYCOPG2_WINDOWS, ".pyd", &repo.path(module));
    repo.write("backend/src/fastjson/__init__.py", "");
    let bin = FakeBin::new();
    bin.add("sam", 0);

    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));

    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains(&format!(
            "[platform-binary] {FUNCTION_DIR}/src/fastjson/_speedups.cpython-311-x86_64-linux-gnu.so"
        )),
        "{output}"
    );
    assert!(output.contains("Windows PE32+"), "{output}");
    assert!(output.contains(&format!("rm -rf {module}")), "the fix must point at the backend source:\n{output}");
    assert!(last_line(&output).contains("failed at step pre-build-guards"), "{output}");
    assert!(!bin.was_called("sam"), "sam ran despite the finding");
}

#[test]
fn a_windows_psycopg2_copied_over_the_build_stops_it_after_sam() {
    let repo = RepoCopy::new();
    let prepared = prepared_artifact(&repo, &[wheels::PSYCOPG2_WINDOWS]);
    let bin = sam_laying_down(&repo, prepared.path());

    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));

    assert_eq!(status, 1, "{output}");
    for path in [
        "psycopg2/_psycopg.cp311-win_amd64.pyd",
        "psycopg2_binary.libs/libpq-634d1dba4506d02f8e5f3384e9a4e276.dll",
        "psycopg2/__init__.py",
        "psycopg2_binary-2.9.11.dist-info/WHEEL",
    ] {
        assert!(output.contains(&format!("[platform-binary] {ARTIFACT}/{path}")), "{path} not named:\n{output}");
    }
    assert!(output.contains("'os' has no attribute 'add_dll_directory'"), "{output}");
    assert!(last_line(&output).contains("failed at step post-build-guards"), "{output}");
    assert!(!output.contains("[lambda-build] smoke-test"), "the smoke test ran after failed guards:\n{output}");
}

#[test]
fn a_requirement_pulling_a_whole_sdk_that_loads_is_a_notice_naming_the_chain() {
    let repo = RepoCopy::new();
    let requirements = repo.path(&format!("{FUNCTION_DIR}/requirements.txt"));
    let mut text = fs::read_to_string(&requirements).unwrap();
    text.push_str("watchtower==3.3.1\n");
    fs::write(&requirements, text).unwrap();

    let (status, output) = real_build(&repo, &[]);

    // pip resolved boto3, botocore and s3transfer together, and they load as Lambda loads
    // them: the runtime's SDK is shadowed, but nothing breaks.
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[bundled-aws-sdk]"), "{output}");
    assert!(output.contains("notice: function BackendFunction bundles boto3 "), "{output}");
    assert!(
        output.contains("(pulled in by watchtower -> boto3, from infra/lambda/functions/backend/requirements.txt:"),
        "{output}"
    );
    assert!(output.contains("set allow_bundled_aws_sdk = true for BackendFunction"), "{output}");

    // The config opt-in silences the notice, and asks for nothing more.
    allow_bundled_sdk_in_config(&repo);
    let (status, output) = run(repo.xtask().arg("lambda-check"));
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("bundles boto3") && !output.contains("[bundled-aws-sdk]"), "{output}");
}

#[test]
fn a_bundled_botocore_that_breaks_the_runtime_sdk_stops_the_build_and_allow_overrides_it_once() {
    let repo = RepoCopy::new();
    let requirements = repo.path(&format!("{FUNCTION_DIR}/requirements.txt"));
    let mut text = fs::read_to_string(&requirements).unwrap();
    text.push_str("botocore==1.35.72\n");
    fs::write(&requirements, text).unwrap();

    let (status, output) = real_build(&repo, &[]);

    assert_eq!(status, 1, "{output}");
    assert!(output.contains(&format!("[bundled-aws-sdk] {ARTIFACT}/botocore-1.35.72.dist-info")), "{output}");
    assert!(
        output.contains("cannot import name 'DEFAULT_CHECKSUM_ALGORITHM' from 'botocore.httpchecksum'"),
        "{output}"
    );
    assert!(output.contains("remove botocore==1.35.72 (line "), "{output}");
    assert!(last_line(&output).contains("failed at step post-build-guards"), "{output}");

    // --allow: the same finding, shown as overridden, and this one run passes.
    let (status, output) = run(repo.xtask().args(["lambda-check", "--allow", "bundled-aws-sdk"]));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("notice: --allow bundled-aws-sdk"), "{output}");
    assert!(output.contains("allowed: --allow bundled-aws-sdk overrides this finding for this run only"), "{output}");
    // Only for that run; and allowing bundling in the config does not allow a mix that breaks.
    allow_bundled_sdk_in_config(&repo);
    let (status, output) = run(repo.xtask().arg("lambda-check"));
    assert_eq!(status, 1, "{output}");
}

#[test]
fn mismatched_bundled_sdk_pins_stop_the_build_even_when_bundling_is_allowed() {
    let repo = RepoCopy::new();
    allow_bundled_sdk_in_config(&repo);
    let prepared = prepared_artifact(
        &repo,
        &[
            wheels::BOTO3,
            wheels::BOTOCORE_MISMATCHED,
            wheels::S3TRANSFER,
            wheels::JMESPATH,
            wheels::DATEUTIL,
            wheels::SIX,
            wheels::URLLIB3,
        ],
    );
    let bin = sam_laying_down(&repo, prepared.path());

    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));

    assert_eq!(status, 1, "{output}");
    assert!(output.contains(&format!("[bundled-aws-sdk] {ARTIFACT}/botocore-1.36.0.dist-info")), "{output}");
    assert!(output.contains(&format!("[dependency-consistency] {ARTIFACT}/botocore-1.36.0.dist-info")), "{output}");
    assert!(output.contains("boto3 1.35.0 requires botocore"), "{output}");
    assert!(last_line(&output).contains("failed at step post-build-guards"), "{output}");
}

#[test]
fn the_smoke_test_sees_only_the_artifact_and_the_runtime_sdk_and_checks_the_answer() {
    let repo = RepoCopy::new();
    // boto3 is not in requirements.txt: the Lambda runtime provides it, so it must import.
    let app = repo.path("backend/src/lazy_app.py");
    let text = fs::read_to_string(&app).unwrap();
    fs::write(&app, text.replace("from src import settings", "import boto3  # noqa: F401\n\nfrom src import settings"))
        .unwrap();
    let (status, output) = real_build(&repo, &[]);
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains(
            "the python3.11 runtime's SDK (boto3 1.38.36, botocore 1.38.36, s3transfer 0.13.0, from the tool cache)"
        ),
        "{output}"
    );

    // yaml is installed on this machine but not in the artifact: the import must fail.
    let built_app = repo.path(&format!("{ARTIFACT}/src/lazy_app.py"));
    let text = fs::read_to_string(&built_app).unwrap();
    fs::write(&built_app, text.replace("import boto3", "import yaml")).unwrap();
    let (status, output) = run(repo.xtask().arg("lambda-check"));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains(&format!("[smoke-test] {ARTIFACT}/src/lazy_app.py:")), "{output}");
    assert!(output.contains("ModuleNotFoundError: No module named 'yaml'"), "{output}");
    assert!(last_line(&output).contains("failed at step smoke-test"), "{output}");

    // A route that answers 404 is shown, not a failure: only a 5xx is.
    fs::write(&built_app, text.replace("import boto3  # noqa: F401\n", "")).unwrap();
    let manifest = repo.path("Cargo.toml");
    let config =
        fs::read_to_string(&manifest).unwrap().replace("smoke_test_path = \"/health\"", "smoke_test_path = \"/nope\"");
    fs::write(&manifest, config).unwrap();
    let (status, output) = run(repo.xtask().arg("lambda-check"));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("GET /nope -> statusCode 404"), "{output}");
}

#[test]
fn lambda_check_dir_runs_the_file_guards_on_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    wheels::install_into(wheels::PYDANTIC_CORE_MACOS_ARM64, &dir.path().join("mac"));
    wheels::install_into(wheels::PYDANTIC_CORE_LINUX_AARCH64, &dir.path().join("arm"));
    wheels::install_into(wheels::PYDANTIC_CORE_CP312_X86_64, &dir.path().join("py312"));
    let repo = RepoCopy::new();

    let (status, output) = run(repo.xtask().current_dir(dir.path()).args(["lambda-check", "--dir", "."]));

    assert_eq!(status, 1, "{output}");
    for (guard, path) in [
        ("platform-binary", "mac/pydantic_core/_pydantic_core.cpython-311-darwin.so"),
        ("platform-binary", "arm/pydantic_core/_pydantic_core.cpython-311-aarch64-linux-gnu.so"),
        ("python-abi", "py312/pydantic_core/_pydantic_core.cpython-312-x86_64-linux-gnu.so"),
        ("stale-installed-package", "mac/pydantic_core-2.23.4.dist-info"),
    ] {
        assert!(output.contains(&format!("[{guard}] {path}")), "[{guard}] {path} missing:\n{output}");
    }

    // The aarch64 build is right for an arm64 function: only its dist-info is out of place.
    let (status, output) = run(repo.xtask().current_dir(dir.path().join("arm")).args([
        "lambda-check",
        "--dir",
        ".",
        "--arch",
        "arm64",
        "--allow",
        "stale-installed-package",
    ]));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("allowed: --allow stale-installed-package"), "{output}");
    assert!(!output.contains("[platform-binary]") && !output.contains("[python-abi]"), "{output}");
}

#[test]
fn an_unknown_guard_in_allow_is_bad_usage() {
    let repo = RepoCopy::new();
    let (status, output) = run(repo.xtask().args(["lambda-build", "--allow", "platform"]));
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("--allow platform: no such guard"), "{output}");
    assert!(!repo.path(&format!("{FUNCTION_DIR}/src")).exists(), "a bad flag changed the tree");
}
