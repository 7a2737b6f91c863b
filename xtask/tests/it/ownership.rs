//! Issue 18, the filesystem half: nothing outside what the xtask owns is ever deleted, read into
//! the artifact or written, whatever shape a hostile or careless tree takes. Each test writes its
//! own app (a fresh git repository with the one-line configuration, shaped like `sam init`'s
//! hello world), runs the real xtask binary, and checks what a user would: exit status, what is
//! left on disk, what the output names.

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{run, snapshot, FakeBin};

const ONE_LINE_CONFIG: &str = "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n";

const HELLO_APP: &str = "import json\n\n\ndef lambda_handler(event, context):\n    return {\"statusCode\": 200, \"body\": json.dumps({\"message\": \"hello world\"})}\n";

/// A hello-world app in its own git repository, everything committed.
struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new(files: &[(&str, &str)]) -> App {
        App::with_config(files, ONE_LINE_CONFIG)
    }

    fn with_config(files: &[(&str, &str)], config: &str) -> App {
        let app = App { dir: tempfile::tempdir().unwrap() };
        app.write("Cargo.toml", config);
        app.write(".gitignore", ".aws-sam/\n");
        for (path, text) in files {
            app.write(path, text);
        }
        app.git(&["init", "-q"]);
        app.commit();
        app
    }

    /// The hello world with `extra` resources and `function_extra` properties.
    fn hello(extra: &str, function_extra: &str, files: &[(&str, &str)]) -> App {
        let template = hello_template(extra, function_extra);
        let mut all =
            vec![("template.yaml", template.as_str()), ("hello/app.py", HELLO_APP), ("hello/requirements.txt", "")];
        all.extend_from_slice(files);
        App::new(&all)
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn commit(&self) {
        self.git(&["add", "-A"]);
        self.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "app", "--allow-empty"]);
    }

    /// What `git status` shows changed, sam's own output aside.
    fn changes(&self) -> Vec<String> {
        self.git(&["status", "--porcelain"]).lines().filter(|l| !l.ends_with(".aws-sam/")).map(String::from).collect()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS");
        command
    }

    fn xtask(&self, args: &[&str]) -> (i32, String) {
        run(&mut self.command(args))
    }
}

fn hello_template(extra: &str, function_extra: &str) -> String {
    format!(
        "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nResources:\n  HelloWorldFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: hello/\n      Handler: app.lambda_handler\n      Runtime: python3.11\n{function_extra}{extra}"
    )
}

/// sha256 as a RECORD row writes it: urlsafe base64 without padding.
fn record_hash(bytes: &[u8]) -> String {
    let output = Command::new("python3")
        .args(["-c", "import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).rstrip(b'=').decode())"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Repro 1: an installer record (RECORD) listing a file reached through a symlinked dir in the
/// function dir: `hello/shared -> ../shared` (inside the repository) and `hello/ext ->
/// /tmp/...` (outside it). clean never deletes through either.
#[test]
fn a_record_entry_through_a_symlinked_dir_never_deletes_anything() {
    let util = "def util(): return 1\n";
    let app = App::hello("", "", &[("shared/util.py", util)]);
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("victim.py"), "keep = True\n").unwrap();
    symlink("../shared", app.path("hello/shared")).unwrap();
    symlink(outside.path(), app.path("hello/ext")).unwrap();
    app.write(".gitignore", ".aws-sam/\n*.dist-info/\n");
    app.commit(); // the links are tracked, as a team sharing code this way would commit them
    let record = format!(
        "shared/util.py,sha256={},{}\next/victim.py,sha256={},{}\n",
        record_hash(util.as_bytes()),
        util.len(),
        record_hash(b"keep = True\n"),
        "keep = True\n".len()
    );
    app.write("hello/x-1.0.dist-info/RECORD", &record);

    let (status, output) = app.xtask(&["lambda-build", "--container", "never"]);

    assert_ne!(status, 0, "{output}");
    assert!(!output.contains("removing file hello/shared/util.py"), "{output}");
    assert!(!output.contains("removing file hello/ext/victim.py"), "{output}");
    assert_eq!(fs::read_to_string(app.path("shared/util.py")).unwrap(), util);
    assert_eq!(fs::read_to_string(outside.path().join("victim.py")).unwrap(), "keep = True\n");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    // Each entry is named, never deleted; lambda-check names the link out of the repository.
    assert!(output.contains("[unexplained-file] hello/shared/util.py"), "{output}");
    assert!(output.contains("[unexplained-file] hello/ext/victim.py"), "{output}");
    assert!(output.contains("reached through the symlink ext in the function dir"), "{output}");
    let (_, output) = app.xtask(&["lambda-check"]);
    assert!(output.contains("[outside-link] hello/ext"), "{output}");
    assert!(!output.contains("[outside-link] hello/shared"), "a link inside the repository is fine: {output}");
}

/// Repro 2: `.aws-sam` a tracked symlink to a dir outside (a `.aws-sam/` ignore line matches
/// directories only). sam build would wipe `<outside>/build`; the xtask would write its lock
/// and manifest there. Bad input before anything runs, for every command that writes there.
#[test]
fn a_tracked_aws_sam_symlink_to_an_outside_dir_is_bad_input_and_nothing_there_changes() {
    let app = App::hello("", "", &[]);
    let victim = tempfile::tempdir().unwrap();
    fs::create_dir_all(victim.path().join("build")).unwrap();
    fs::write(victim.path().join("build/keep.txt"), "keep").unwrap();
    symlink(victim.path(), app.path(".aws-sam")).unwrap();
    app.git(&["add", ".aws-sam"]);
    app.commit();
    let before = snapshot(victim.path());

    for args in [&["lambda-build", "--container", "never"][..], &["lambda-check"], &["lambda-build", "--dry-run"]] {
        let (status, output) = app.xtask(args);
        assert_eq!(status, 2, "{args:?}: {output}");
        let line = output.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
        assert!(line.contains(".aws-sam is a symlink") && line.contains("tracked by git"), "{args:?}: {output}");
        assert!(line.contains("git rm --cached"), "{line}");
        assert_eq!(snapshot(victim.path()), before, "{args:?} changed the outside dir: {output}");
    }
    assert!(!victim.path().join("xtask.lock").exists());
}

/// Repro 2's neighbours: `.aws-sam/build` a symlink out (sam would wipe what it points to),
/// and a `.aws-sam` holding a file git tracks.
#[test]
fn an_aws_sam_holding_a_link_out_or_a_tracked_file_is_bad_input() {
    let app = App::hello("", "", &[]);
    let victim = tempfile::tempdir().unwrap();
    fs::write(victim.path().join("keep.txt"), "keep").unwrap();
    fs::create_dir(app.path(".aws-sam")).unwrap();
    symlink(victim.path(), app.path(".aws-sam/build")).unwrap();
    let (status, output) = app.xtask(&["lambda-build", "--container", "never"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains(".aws-sam/build is a symbolic link"), "{output}");
    assert!(victim.path().join("keep.txt").exists());

    fs::remove_file(app.path(".aws-sam/build")).unwrap();
    app.write(".aws-sam/notes.txt", "committed by mistake");
    app.git(&["add", "-f", ".aws-sam/notes.txt"]);
    app.commit();
    let (status, output) = app.xtask(&["lambda-build", "--container", "never"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains(".aws-sam/notes.txt: git tracks it"), "{output}");
    assert!(output.contains("git rm -r --cached"), "{output}");
}

const BACKEND_CONFIG: &str = "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n\n[[workspace.metadata.lambda.functions]]\nlogical_id = \"HelloWorldFunction\"\nbackend_src = \"BACKEND\"\n";

fn backend_app(backend_src: &str, files: &[(&str, &str)]) -> App {
    let template = hello_template("", "");
    let handler = "from src.service import answer\n\n\ndef lambda_handler(event, context):\n    return {\"statusCode\": 200, \"body\": answer()}\n";
    let mut all = vec![
        ("template.yaml", template.as_str()),
        ("hello/app.py", handler),
        ("hello/requirements.txt", ""),
        ("backend/src/service.py", "def answer():\n    return 'ok'\n"),
    ];
    all.extend_from_slice(files);
    App::with_config(&all, &BACKEND_CONFIG.replace("BACKEND", backend_src))
}

/// Repro 3: copy-backend replaces its target only when the target is its own copy. A tracked
/// file in the target, or a backend_src that is the target, is bad input; nothing changes.
#[test]
fn copy_backend_never_replaces_a_target_holding_a_tracked_file_or_its_own_source() {
    let app = backend_app("backend/src", &[("hello/src/extra.py", "TRACKED = True\n")]);
    let before = snapshot(&app.path("hello"));
    let (status, output) = app.xtask(&["lambda-build", "--container", "never"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("hello/src/extra.py: git tracks it"), "{output}");
    assert_eq!(snapshot(&app.path("hello")), before);
    assert_eq!(app.changes(), Vec::<String>::new());

    // backend_src = the copy target itself: hidden and ignored source files would be destroyed.
    let app = backend_app(
        "hello/src",
        &[("hello/src/service.py", "def answer():\n    return 'ok'\n"), ("hello/src/.gitignore", "*.log\n")],
    );
    app.write("hello/src/.env", "DB_PASSWORD=local-only\n");
    app.write("hello/src/debug.log", "kept\n");
    let before = snapshot(&app.path("hello"));
    for args in [&["lambda-build", "--container", "never"][..], &["lambda-build", "--dry-run"]] {
        let (status, output) = app.xtask(args);
        assert_eq!(status, 2, "{args:?}: {output}");
        assert!(output.contains("backend_src hello/src is the copy target itself hello/src"), "{output}");
        assert_eq!(snapshot(&app.path("hello")), before, "{args:?}");
    }
}

/// An untracked target that is not the xtask's copy (no marker, a file the source lacks) is
/// bad input; one that is an exact copy is adopted once; `--dry-run` lists every file a copy
/// would delete.
#[test]
fn copy_backend_adopts_only_an_exact_copy_and_dry_run_lists_what_it_would_delete() {
    let app = backend_app("backend/src", &[]);
    app.write(".gitignore", ".aws-sam/\nhello/src/\n");
    app.commit();
    app.write("hello/src/service.py", "def answer():\n    return 'ok'\n");
    app.write("hello/src/my_notes.py", "# not in backend/src\n");
    let (status, output) = app.xtask(&["lambda-build", "--dry-run"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("hello/src was not made by copy-backend"), "{output}");
    assert!(output.contains("hello/src/my_notes.py is not in backend/src"), "{output}");
    assert!(app.path("hello/src/my_notes.py").exists());

    fs::remove_file(app.path("hello/src/my_notes.py")).unwrap();
    let (status, output) = app.xtask(&["lambda-build", "--dry-run"]);
    assert_eq!(status, 0, "an exact copy is adopted: {output}");

    // A marked copy with a file since removed from the source: dry-run names it.
    fs::write(app.path("hello/src/.xtask-copied-backend"), "marker").unwrap();
    app.write("hello/src/removed_upstream.py", "x = 1\n");
    let (status, output) = app.xtask(&["lambda-build", "--dry-run"]);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("would delete file hello/src/removed_upstream.py (not in backend/src)"), "{output}");
    assert!(app.path("hello/src/removed_upstream.py").exists(), "a dry run deleted it");
}

/// Repro 5: a layer holding an OpenSSH private key and a link to the host's /etc/passwd. Both
/// are refused by name before sam runs.
#[test]
fn a_layer_gets_the_secret_and_outside_link_guards() {
    let layer = "  CommonLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/common/\n      CompatibleRuntimes: [python3.11]\n    Metadata:\n      BuildMethod: python3.11\n";
    let app = App::hello(
        layer,
        "      Layers:\n        - !Ref CommonLayer\n",
        &[
            ("layers/common/common_utils.py", "def greeting():\n    return 'hi'\n"),
            ("layers/common/requirements.txt", ""),
            (
                "layers/common/deploy_key",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            ),
        ],
    );
    symlink("/etc/passwd", app.path("layers/common/passwd.txt")).unwrap();
    app.commit();

    let (status, output) = app.xtask(&["lambda-build", "--container", "never"]);

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[secret-file] layers/common/deploy_key"), "{output}");
    assert!(output.contains("[outside-link] layers/common/passwd.txt"), "{output}");
    assert!(output.contains("a symlink to /etc/passwd"), "{output}");
    assert!(!output.contains("b3BlbnNzaC1rZXktdjEAAAAA"), "the key's content was printed");
    assert!(!app.path(".aws-sam/build/CommonLayer").exists(), "sam built the layer with the secret: {output}");
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[secret-file] layers/common/deploy_key"), "{output}");
    assert!(output.contains("[outside-link] layers/common/passwd.txt"), "{output}");
}

/// A ContentUri or CodeUri that is itself a symlink out of the repository is bad input.
#[test]
fn a_content_uri_or_code_uri_that_is_a_link_out_is_bad_input() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("common_utils.py"), "x = 1\n").unwrap();
    let layer = "  CommonLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/common/\n      CompatibleRuntimes: [python3.11]\n    Metadata:\n      BuildMethod: python3.11\n";
    let app = App::hello(layer, "", &[]);
    fs::create_dir(app.path("layers")).unwrap();
    symlink(outside.path(), app.path("layers/common")).unwrap();
    app.commit();
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("layer CommonLayer: ContentUri layers/common/"), "{output}");
    assert!(output.contains("reached through the symlink layers/common"), "{output}");

    let app = App::new(&[("template.yaml", &hello_template("", ""))]);
    let code = tempfile::tempdir().unwrap();
    fs::write(code.path().join("app.py"), HELLO_APP).unwrap();
    symlink(code.path(), app.path("hello")).unwrap();
    app.commit();
    let (status, output) = app.xtask(&["lambda-build", "--container", "never"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("function dir hello") && output.contains("is a symlink"), "{output}");
    assert!(code.path().join("app.py").exists());
}

/// Repro 7: a logical id with `../` in it led lambda-check's smoke test to an `app.py` outside
/// the repository. Logical ids are alphanumeric, as CloudFormation requires, before any path
/// is built from one.
#[test]
fn a_logical_id_with_dot_dot_is_bad_input_and_nothing_outside_runs() {
    let outside = tempfile::tempdir_in("/tmp").unwrap();
    let marker = outside.path().join("imported");
    fs::create_dir_all(outside.path().join("Fn")).unwrap();
    fs::write(
        outside.path().join("Fn/app.py"),
        format!(
            "open({:?}, 'w').write('ran')\n\ndef lambda_handler(event, context):\n    return {{}}\n",
            marker.display().to_string()
        ),
    )
    .unwrap();
    let app_dir = tempfile::tempdir_in("/tmp").unwrap();
    // From <app>/.aws-sam/build, three levels up is /tmp.
    let id = format!("../../../{}/Fn", outside.path().file_name().unwrap().to_string_lossy());
    let template = hello_template("", "").replace("HelloWorldFunction:", &format!("'{id}':"));
    let app = App { dir: app_dir };
    app.write("Cargo.toml", ONE_LINE_CONFIG);
    app.write("template.yaml", &template);
    app.write("hello/app.py", HELLO_APP);
    app.git(&["init", "-q"]);
    app.commit();
    fs::create_dir_all(app.path(".aws-sam/build")).unwrap(); // as any earlier build leaves it

    let (status, output) = app.xtask(&["lambda-check"]);

    assert_eq!(status, 2, "{output}");
    assert!(output.contains("is not alphanumeric"), "{output}");
    assert!(!marker.exists(), "lambda-check ran the app.py outside the repository: {output}");
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

/// A running xtask whose output is collected as it comes.
struct Running {
    child: Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(command: &mut Command) -> Running {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        let pipes: [Box<dyn std::io::Read + Send>; 2] =
            [Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        for mut pipe in pipes {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    output.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }));
        }
        Running { child, output, readers }
    }

    fn text(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output holds `text`; a liveness bound, not a timing claim.
    fn wait_for_text(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.text().contains(text) {
            assert!(self.child.try_wait().unwrap().is_none(), "ended before printing {text:?}: {}", self.text());
            assert!(Instant::now() < deadline, "never printed {text:?}: {}", self.text());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status and output when the run ends within `limit`; `None` (and the run killed)
    /// when it does not.
    fn wait_at_most(mut self, limit: Duration) -> Option<(i32, String)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for reader in self.readers.drain(..) {
                    reader.join().unwrap();
                }
                return Some((status.code().unwrap_or(-1), self.text()));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Repro 6: `mkfifo hello/data.bin` hung lambda-build and lambda-check in the scan's open. The
/// FIFO is a finding; nothing opens it.
#[test]
fn a_fifo_in_the_function_dir_is_a_finding_and_hangs_nothing() {
    let app = App::hello("", "", &[]);
    mkfifo(&app.path("hello/data.bin"));
    for args in [&["lambda-check"][..], &["lambda-build", "--container", "never"]] {
        // A liveness bound, not a timing claim: without a FIFO these end in seconds.
        let Some((status, output)) = Running::spawn(&mut app.command(args)).wait_at_most(Duration::from_secs(120))
        else {
            panic!("{args:?} hung on the FIFO");
        };
        assert_eq!(status, 1, "{args:?}: {output}");
        assert!(output.contains("[special-file] hello/data.bin"), "{args:?}: {output}");
        assert!(output.contains("a FIFO (named pipe)"), "{output}");
    }
}

/// Repro 6, the signals: SIGTERM and SIGINT end a run within 2 s whatever it waits on: another
/// run's lock (a blocking flock restarts after a signal), or a child that ignores the signal.
#[test]
fn term_and_int_end_a_waiting_run_within_two_seconds() {
    let app = App::hello("", "", &[]);
    fs::create_dir(app.path(".aws-sam")).unwrap();
    let lock = fs::File::create(app.path(".aws-sam/xtask.lock")).unwrap();
    lock.lock().unwrap(); // another run holds the repository
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut running = Running::spawn(&mut app.command(&["lambda-build", "--container", "never"]));
        running.wait_for_text("waiting for it to finish");
        unsafe { libc::kill(running.child.id() as i32, signal) };
        let Some((status, output)) = running.wait_at_most(Duration::from_secs(2)) else {
            panic!("signal {signal} did not end a run waiting for the lock within 2 s");
        };
        assert_eq!(status, 130, "{output}");
    }
    drop(lock);

    let bin = FakeBin::new();
    bin.add_script(
        "sam",
        "trap '' INT TERM\ncase \"$1\" in build) echo sam-build-started >&2; while :; do sleep 0.05; done;; esac",
    );
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut running = Running::spawn(
            app.command(&["lambda-build", "--container", "never", "--force"]).env("PATH", bin.path_env()),
        );
        running.wait_for_text("sam-build-started");
        unsafe { libc::kill(running.child.id() as i32, signal) };
        let Some((status, output)) = running.wait_at_most(Duration::from_secs(2)) else {
            panic!("signal {signal} did not end a run whose child ignores it within 2 s");
        };
        assert_eq!(status, 130, "{output}");
        assert!(output.contains("did not stop within 1 s of the signal: killing it"), "{output}");
    }
}

/// Repro 8: a pin changed in a file pulled in with `-r ../shared-reqs.txt` rebuilds; so does an
/// edit to a layer made from a subdirectory, and a new empty directory.
#[test]
fn every_file_a_build_reads_is_in_its_fingerprint() {
    let app = App::hello(
        "",
        "",
        &[("hello/requirements.txt", "-r ../shared-reqs.txt\n"), ("shared-reqs.txt", "six==1.16.0\n")],
    );
    let build = |from: &str| {
        let mut command = app.command(&["lambda-build", "--container", "never"]);
        command.current_dir(app.path(from));
        run(&mut command)
    };
    let (status, output) = build(".");
    assert_eq!(status, 0, "{output}");
    let (status, output) = build(".");
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("up to date"), "{output}");

    app.write("shared-reqs.txt", "six==1.17.0\n");
    let (status, output) = build("hello");
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("building: requirements/HelloWorldFunction/shared-reqs.txt changed"), "{output}");
    assert!(app.path(".aws-sam/build/HelloWorldFunction/six-1.17.0.dist-info").is_dir(), "{output}");

    fs::create_dir(app.path("hello/templates")).unwrap();
    let (status, output) = build("hello");
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("building: function/HelloWorldFunction/templates/ is new"), "{output}");
}
