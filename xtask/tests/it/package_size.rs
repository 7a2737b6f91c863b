//! Guard `package-size` (issue 18): a function whose build output and layers unzip to more
//! than Lambda's 262,144,000 bytes fails its build with the sizes and the biggest entries,
//! before anything is packaged. Measured by apparent size, never by reading: a 3 GB sparse
//! file used to build green.

use crate::support::deploy::real_sam;
use crate::support::{run, FakeBin, RepoCopy};

/// sam build is the real one; once it is done, a 3 GB sparse file is laid into the function's
/// build output, as sam would have copied it from the function dir. (The real copy would
/// write 3 GB of zeros to the disk: sam copies with sendfile, which fills holes.)
#[test]
fn a_function_over_lambdas_unzipped_limit_fails_its_build_before_it_is_packaged() {
    let repo = RepoCopy::new();
    let built = repo.path("infra/lambda/.aws-sam/build/BackendFunction");
    let bin = FakeBin::new();
    bin.add_script(
        "sam",
        &format!(
            "'{}' \"$@\" || exit $?\nif [ \"$1\" = build ]; then truncate -s 3000000000 '{}/data.bin'; fi",
            real_sam().display(),
            built.display()
        ),
    );
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[package-size] infra/lambda/.aws-sam/build/BackendFunction"), "{output}");
    assert!(output.contains("BackendFunction unzips to 3,0"), "{output}");
    assert!(output.contains("over Lambda's limit of 262,144,000 bytes"), "{output}");
    assert!(output.contains("the biggest entries: data.bin 3,000,000,000 bytes"), "{output}");
    assert!(output.contains("failed at step post-build-guards"), "{output}");
    // Stopped before the smoke test and the package: nothing read the 3 GB.
    assert!(!output.contains("[lambda-build] smoke-test ..."), "{output}");
    assert!(!repo.path("infra/lambda/.aws-sam/build/BackendFunction.zip").exists());
    assert_eq!(std::fs::metadata(built.join("data.bin")).unwrap().len(), 3_000_000_000);
}
