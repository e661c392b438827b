"""`kill -9` of each platform process under `make up`: each comes back by itself, its crash is a
platform event, the others never stop, and Ctrl-C afterwards still leaves nothing behind."""

import os
import re
import signal
import subprocess
from pathlib import Path

from tests.compose.test_make_up import data_dir, paas, platform_up, processes_mentioning, read  # noqa: F401
from tests.waiting import wait_for

# How each program's leading process shows in its command line.
PROGRAMS = {
    "api": "paas.platform.asgi:application",
    "git": "paas.platform.git.wsgi:application",
    "builds": "paas.platform.celery",
    "control": "paas-control",
    "router": "paas-router",
    "agent": "paas-agent",
}


def leader(data_dir: Path, program: str) -> int | None:
    """The pid of the program's first process (the leader of its own session), if it runs."""
    for line in processes_mentioning(str(data_dir)):
        pid, cmdline = line.split(" ", 1)
        try:
            if PROGRAMS[program] in cmdline and os.getsid(int(pid)) == int(pid):
                return int(pid)
        except ProcessLookupError:
            continue
    return None


def answers(url: str) -> bool:
    result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url],
                            capture_output=True, text=True)
    return result.stdout not in ("", "000")


def test_each_killed_process_comes_back_and_the_rest_keeps_running(platform_up, data_dir, tmp_path):
    process, banner, api = platform_up
    router = "http://127.0.0.1:" + re.search(r"Apps: +http://<app>.localhost:(\d+)/", banner).group(1) + "/"
    programs = [name for name in PROGRAMS if leader(data_dir, name) is not None]
    assert {"api", "git", "builds", "control", "router"} <= set(programs)
    for name in programs:
        others = {other: leader(data_dir, other) for other in programs if other != name}
        victim = leader(data_dir, name)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: leader(data_dir, name) not in (None, victim), 60, f"{name} to be restarted")
        assert f"{name} crashed" in read(data_dir)
        # Nobody else was stopped or restarted.
        assert {other: leader(data_dir, other) for other in others} == others
    wait_for(lambda: answers(f"{api}/api/healthz") and answers(router), 60, "the API and the router")

    password = re.search(r"password: (\S+)", banner).group(1)
    assert paas(tmp_path, api, "login", "--api", api, input=f"admin\n{password}\n").returncode == 0
    events = wait_for(lambda: (out := paas(tmp_path, api, "events").stdout).count("crashed") >= len(programs) and out,
                      60, "a platform event for every crash")
    assert "platform process router crashed" in events

    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=120) == 0
    assert processes_mentioning(str(data_dir)) == []
