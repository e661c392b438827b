"""paas run: one-off processes, attached through the API to a pipe or a terminal, or detached."""

import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.models import Instance
from tests.e2e.test_deploy import WEB_APP, release_status
from tests.waiting import wait_for

PAAS = str(Path(sys.executable).with_name("paas"))


@pytest.fixture
def deployed(pusher, agent_host, tmp_path):
    app = create_app(pusher.user, f"run-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", {**WEB_APP, "shout.py": "import sys\nprint(sys.stdin.read().upper())\n"},
                       app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    return app


def cli_env(pusher, live_server) -> dict:
    return {"HOME": str(pusher.home), "PATH": os.environ["PATH"], "PAAS_API_URL": live_server.url,
            "PAAS_TOKEN": pusher.token}


def test_piped_run_gets_stdin_and_returns_the_exit_code(pusher, deployed, live_server):
    result = subprocess.run(
        [PAAS, "run", "-a", deployed.name, "--", "python3 shout.py && exit 3"],
        input="hello from stdin\n", capture_output=True, text=True, env=cli_env(pusher, live_server), timeout=120)
    assert result.returncode == 3, result.stderr
    assert "HELLO FROM STDIN" in result.stdout
    run = Instance.objects.get(app=deployed, kind="oneoff")
    assert run.state == "stopped" and run.exit_code == 3 and run.desired_state == "stopped"


def test_a_missing_command_comes_back_as_its_exit_code(pusher, deployed, live_server):
    result = subprocess.run([PAAS, "run", "-a", deployed.name, "no-such-command"], input="", capture_output=True,
                            text=True, env=cli_env(pusher, live_server), timeout=120)
    assert result.returncode == 127
    assert "not found" in result.stdout + result.stderr


def test_terminal_run_is_interactive_and_ctrl_c_interrupts(pusher, deployed, live_server):
    fd, terminal = pty.openpty()
    cli = subprocess.Popen([PAAS, "run", "-a", deployed.name, "bash"], stdin=terminal, stdout=terminal,
                           stderr=terminal, env=cli_env(pusher, live_server), start_new_session=True)
    os.close(terminal)
    seen = b""

    def expect(text: bytes, timeout: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < deadline, f"never saw {text!r} in {seen[-500:]!r}"
            if select.select([fd], [], [], 0.5)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break

    try:
        expect(b"$ ")  # bash's prompt: typing before it may be flushed when bash sets up the terminal
        os.write(fd, b"echo ready-$((6*7))\n")
        expect(b"ready-42")
        os.write(fd, b"python3 -c 'import time; print(\"sleep\" + \"ing\", flush=True); time.sleep(60)'\n")
        expect(b"sleeping")  # the program runs: now interrupt it
        os.write(fd, b"\x03")
        expect(b"KeyboardInterrupt")
        os.write(fd, b"echo status=$?\n")
        expect(b"status=130")  # it died of SIGINT: the terminal's Ctrl-C reached it
        os.write(fd, b"exit 4\n")
        assert cli.wait(timeout=60) == 4
    finally:
        cli.kill()
        cli.wait()
        os.close(fd)


def test_detached_run_writes_to_the_logs(pusher, deployed, live_server):
    from tests.platform.accounts import ApiClient

    result = subprocess.run([PAAS, "run", "-a", deployed.name, "--detach", "echo detached-$((1+1))"],
                            capture_output=True, text=True, env=cli_env(pusher, live_server), timeout=60)
    assert result.returncode == 0 and "run.1" in result.stdout
    client = ApiClient(pusher.token)
    wait_for(lambda: any(r["line"] == "detached-2" and r["process"] == "run.1"
                         for r in client.get(f"/api/apps/{deployed.name}/logs?lines=50").json_body["lines"]),
             60, "the detached run's output in the logs")


def test_time_limit_stops_a_run(pusher, deployed, live_server):
    result = subprocess.run([PAAS, "run", "-a", deployed.name, "--timeout", "2", "--", "sleep 120"], input="",
                            capture_output=True, text=True, env=cli_env(pusher, live_server), timeout=120)
    assert result.returncode != 0
    assert Instance.objects.get(app=deployed, kind="oneoff").desired_state == "stopped"
