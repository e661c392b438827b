"""paas-runner as installed: pip's console script, starting containers through container.create and start."""

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

from paas.runtime import config
from tests.runtime.conftest import wait_for

SCRIPT = Path(sys.executable).with_name("paas-runner")


def _run_installed(cid, *command, **kwargs):
    argv = [str(SCRIPT), "run", "--name", cid(), "--network", "none", "--", *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=os.environ.copy(), **kwargs)


def test_the_console_script_is_pips_and_stays_so(cid):
    before = SCRIPT.read_bytes()
    assert before.startswith(b"#!") and b"from paas.runtime.cli import main" in before
    result = _run_installed(cid, "/bin/sh", "-c", "echo hello; exit 3")
    assert (result.returncode, result.stdout) == (3, "hello\n")
    assert SCRIPT.read_bytes() == before  # no launcher written over it, nothing beside it
    assert not SCRIPT.with_name("paas-runner.py").exists()


def test_bad_input_is_one_line_and_exit_125(cid):
    result = _run_installed(cid, "")
    assert result.returncode == 125
    assert result.stderr.startswith("paas-runner: error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_no_descriptor_of_the_caller_reaches_the_container(cid, tmp_path):
    """A descriptor the operator's shell left open (`3<secret`) is not the container's to read."""
    secret = tmp_path / "secret"
    secret.write_text("host only")
    opened = os.open(secret, os.O_RDONLY)
    # The lowest free number from 200 up: dup2 onto a fixed number could close (or race, EBUSY) a
    # descriptor another thread of the test process holds.
    fd = fcntl.fcntl(opened, fcntl.F_DUPFD, 200)
    os.close(opened)
    try:
        result = _run_installed(cid, "/bin/sh", "-c", "ls /proc/self/fd", pass_fds=(fd,))
    finally:
        os.close(fd)
    assert result.returncode == 0, result.stderr
    # 0-2, and the descriptor ls opens to read the directory.
    assert {int(n) for n in result.stdout.split()} <= {0, 1, 2, 3}


def _foreground(cid, script):
    name = cid()
    argv = [str(SCRIPT), "run", "--name", name, "--network", "none", "--", "/bin/sh", "-c", script]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy(), start_new_session=True)
    assert proc.stdout.readline() == "ready\n"
    return name, proc


def test_sigterm_to_the_runner_reaches_the_app_and_everything_is_removed(cid):
    name, proc = _foreground(cid, "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (7, "got-term\n")
    assert not (config.instances_dir() / name).exists()


def test_ctrl_c_reaches_the_app_and_the_runner_stays_to_clean_up(cid):
    name, proc = _foreground(cid, "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.05; done")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, _ = proc.communicate(timeout=30)
    # The app is in the terminal's group and PID 1 forwards the signal too: it may see it twice.
    assert proc.returncode == 5 and out.startswith("got-int\n")
    wait_for(lambda: not (config.instances_dir() / name).exists(), what="the instance directory removed")


def test_init_build_puts_the_helper_of_the_current_source_in_the_cache():
    from paas.runtime import initbin

    result = subprocess.run([str(SCRIPT), "init:build"], capture_output=True, text=True, timeout=120,
                            env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    built = Path(result.stdout.strip())
    assert built == initbin.init_binary() and built.name == f"paas-init-{initbin.digest()}"
    assert built.read_bytes()[:4] == b"\x7fELF"
