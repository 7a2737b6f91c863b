//! The tool cache: two first runs at once (two repositories, one cache) install the SAM CLI
//! once; the second waits for the first's install and reuses it.
//!
//! python3 is a fake here, standing in for PyPI: a real install takes a minute and needs the
//! network, and the test must hold the first install open while the second arrives.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{FakeBin, RepoCopy};

#[test]
fn two_first_runs_at_once_install_the_sam_cli_once() {
    let cache = tempfile::tempdir().unwrap();
    let bin = FakeBin::new();
    let dir = bin.dir.path().display().to_string();
    // `python3 -m venv DIR` makes a venv whose pip waits for the test's go, then lays down sam.
    bin.add_script(
        "python3",
        &format!(
            r#"if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/pip" <<'PIP'
#!/bin/sh
echo install >> {dir}/pip-installs
while [ ! -e {dir}/go ]; do sleep 0.05; done
venv=$(dirname "$(dirname "$0")")
printf '#!/bin/sh\necho "fake sam $*"\nexit 1\n' > "$venv/bin/sam"
chmod +x "$venv/bin/sam"
PIP
  chmod +x "$3/bin/pip"
fi
exit 0"#
        ),
    );
    let repos = [RepoCopy::new(), RepoCopy::new()];
    let spawn = |repo: &RepoCopy| -> Child {
        repo.xtask()
            .args(["lambda-build", "--container", "never"])
            .env("PATH", bin.path_env())
            .env("LAMBDA_XTASK_CACHE", cache.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let installs = bin.dir.path().join("pip-installs");
    let mut first = spawn(&repos[0]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !installs.exists() {
        assert!(first.try_wait().unwrap().is_none(), "the first run ended before installing");
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The second run reaches its sam-cli step while the first install is still open.
    let mut second = spawn(&repos[1]);
    let mut second_err = BufReader::new(second.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("[lambda-build] sam-cli ...") {
        let mut line = String::new();
        assert!(second_err.read_line(&mut line).unwrap() > 0, "the second run ended early:\n{seen}");
        seen.push_str(&line);
    }
    // Give an unserialised install the moment it would need to start its own pip.
    std::thread::sleep(Duration::from_millis(1500));
    fs::write(bin.dir.path().join("go"), "").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut second_err, &mut rest).unwrap();
    seen.push_str(&rest);
    second.wait().unwrap();
    let first_output = first.wait_with_output().unwrap();
    let first_text = crate::support::text(&first_output);

    assert_eq!(fs::read_to_string(&installs).unwrap().lines().count(), 1, "pip ran twice:\n{first_text}\n{seen}");
    assert!(first_text.contains("installing aws-sam-cli==1.170.0 into"), "{first_text}");
    assert!(seen.contains("(from the tool cache)"), "the second run did not reuse the install:\n{seen}");
    assert!(seen.contains("fake sam build"), "the second run did not run the installed sam:\n{seen}");
}
