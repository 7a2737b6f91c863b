//! The local rehearsal (`lambda-deploy --env local`) talks only to the moto server it started,
//! whatever the user's environment says, and confirms that the server answering is that one.
//! Real SAM CLI, real aws CLI, real moto; a fake only to take moto's port first.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::{run, FakeBin, RepoCopy};

/// The rehearsal of the README, from a fresh clone committed to git.
fn rehearsal(repo: &RepoCopy) -> Command {
    let status = |args: &[&str]| {
        let ok = Command::new("git").args(args).current_dir(repo.dir.path()).status().unwrap().success();
        assert!(ok, "git {args:?}");
    };
    status(&["init", "-q"]);
    status(&["add", "-A"]);
    status(&["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "test"]);
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", "local", "--container", "never"]);
    for name in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
        command.env_remove(name);
    }
    command
}

/// A loopback server that only counts the connections it gets.
fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

/// Fault 3: service-specific endpoints, a profile with its own endpoint and real-looking
/// credential sources in the user's environment reach neither aws nor sam.
#[test]
fn the_rehearsal_ignores_the_users_endpoint_settings() {
    let repo = RepoCopy::new();
    let (elsewhere, connections) = counting_listener();
    let config = repo.path("user-aws-config");
    std::fs::write(&config, format!("[profile real]\nendpoint_url = {elsewhere}\nregion = us-east-1\n")).unwrap();
    let mut command = rehearsal(&repo);
    for service in ["S3", "CLOUDFORMATION", "STS", "EC2", "SECRETS_MANAGER", "IAM", "LAMBDA"] {
        command.env(format!("AWS_ENDPOINT_URL_{service}"), &elsewhere);
    }
    command
        .env("AWS_PROFILE", "real")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_ROLE_ARN", "arn:aws:iam::051826703172:role/real")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", repo.path("no-such-token"))
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &elsewhere);

    let (status, output) = run(&mut command);

    assert_eq!(status, 0, "{output}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "a call went to the user's endpoint:\n{output}");
}

/// Fault 3: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true would send every call to the real AWS.
#[test]
fn the_rehearsal_ignores_an_instruction_to_ignore_its_endpoint() {
    let repo = RepoCopy::new();
    let mut command = rehearsal(&repo);
    command.env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
    let (status, output) = run(&mut command);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("[lambda-deploy] sam-deploy done"), "{output}");
}

/// Fault 11: a process that takes moto's port before moto binds it is not taken for moto:
/// the rehearsal sees the listener is not its server and starts moto on another port.
#[test]
fn a_process_on_motos_port_is_not_taken_for_moto() {
    let repo = RepoCopy::new();
    let real_moto =
        String::from_utf8(Command::new("sh").args(["-c", "command -v moto_server"]).output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
    assert!(!real_moto.is_empty(), "moto_server on PATH");
    let bin = FakeBin::new();
    let impostor = bin.dir.path().join("impostor.pid");
    // First start only: a listener in its own session grabs the port, then the real moto
    // starts on it (and fails to bind, as in the faults run).
    bin.add_script(
        "moto_server",
        &format!(
            r#"port=""; prev=""; for a in "$@"; do [ "$prev" = "-p" ] && port="$a"; prev="$a"; done
if [ ! -e '{pid}' ]; then
  setsid python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(50); time.sleep(600)' "$port" >/dev/null 2>&1 &
  echo $! > '{pid}'
  sleep 1
fi
exec '{real_moto}' "$@""#,
            pid = impostor.display()
        ),
    );
    let mut command = rehearsal(&repo);
    command.env("PATH", bin.path_env());

    let (status, output) = run(&mut command);

    let mut pid = String::new();
    if let Ok(mut file) = std::fs::File::open(&impostor) {
        let _ = file.read_to_string(&mut pid);
    }
    if let Ok(pid) = pid.trim().parse::<i32>() {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("answered by another process"), "{output}");
    assert!(output.contains("trying another port"), "{output}");
}
