"""Runs aws CLI (v1) commands in one process: one JSON request per line on stdin
({"args": [...], "set": {...}, "remove": [...], "cwd": "..."}), one JSON answer per line on
stdout ({"rc": N, "out": "...", "err": "..."}). Run by the xtask with `python -c`; see
aws/driver.rs."""
import sys

# `-c` put the working directory first on sys.path: a repository's own `json.py` or
# `awscli/` must not be what is imported.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402

if os.environ.get('LC_CTYPE', '') == 'UTF-8':
    os.environ['LC_CTYPE'] = 'en_US.UTF-8'

# The answers get the real standard output; anything else printing to it (a warning at import,
# a plugin) goes where standard error goes instead of into the answers.
answers = os.fdopen(os.dup(1), 'w', encoding='utf-8')
os.dup2(2, 1)
requests = sys.stdin
# awscli's import adds its own data directory to AWS_DATA_PATH: part of every call's environment.
import awscli.clidriver  # noqa: E402

base = dict(os.environ)


def text_stream():
    return io.TextIOWrapper(io.BytesIO(), encoding='utf-8', errors='replace', write_through=True)


def value(stream):
    stream.flush()
    return stream.buffer.getvalue().decode('utf-8', 'replace')


def profile(args):
    return args[args.index("--profile") + 1] if "--profile" in args[:-1] else None


# A CLI driver holds a botocore session: its loaded service models (EC2's alone takes 0.3 s to
# load) and resolved credentials. Consecutive calls with the same environment, directory and
# profile share one, as the calls of one `aws s3 sync` do; any difference gets a fresh one.
driver_key, driver = None, None

answers.write(json.dumps({"ready": True}) + "\n")
answers.flush()
for line in requests:
    request = json.loads(line)
    context = [request.get("set"), request.get("remove"), request["cwd"], profile(request["args"])]
    key = json.dumps(context, sort_keys=True)
    os.environ.clear()
    os.environ.update(base)
    for name in request.get("remove", []):
        os.environ.pop(name, None)
    os.environ.update(request.get("set", {}))
    out, err = text_stream(), text_stream()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        os.chdir(request["cwd"])
        if key != driver_key:
            driver_key, driver = None, awscli.clidriver.create_clidriver()
            driver_key = key
        rc = driver.main(request["args"])
    except SystemExit as exit:
        rc = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 255)
        driver_key = None
    except BaseException:
        traceback.print_exc()
        rc = 255
        driver_key = None
    finally:
        sys.stdout, sys.stderr = saved
    answers.write(json.dumps({"rc": rc if isinstance(rc, int) else 255, "out": value(out), "err": value(err)}) + "\n")
    answers.flush()
