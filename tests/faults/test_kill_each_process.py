"""Issue 11's "Done when", as one test on a platform started by ``make up``: an app deployed, then
``kill -9`` of each platform process in turn. Each comes back by itself, its crash is a platform
event, no other process is restarted, and the app answers every request throughout, except those
in flight on a killed router. The platform still deploys afterwards, and Ctrl-C of ``make up``
leaves no process, no instance cgroup and no mount behind."""

import os
import signal
from pathlib import Path

import pytest

from tests.faults.upplatform import deployed_platform, Platform, leftovers
from tests.load import Load
from tests.waiting import wait_for

APP = "survivor"
HOST = f"{APP}.localhost"
# How each program's leading process shows in its command line (compose/up.py programs()).
PROGRAMS = {
    "api": "paas.platform.asgi:application",
    "git": "paas.platform.git.wsgi:application",
    "builds": "builds@",     # the Celery workers' node names (-n)
    "backups": "backups@",
    "control": "paas-control",
    "router": "paas-router",
    "agent": "paas-agent",
    "logs": "paas-logs",
}


@pytest.fixture
def platform():
    with deployed_platform(APP, "kill-each") as running:
        yield running


def requests_go_on(load: Load, count: int, what: str) -> None:
    mark = load.total()
    wait_for(lambda: load.total() >= mark + count, 60, what, interval=0.05)


def instance_names(platform: Platform) -> set[str]:
    return {i["name"] for i in platform.api("GET", f"/apps/{APP}/instances")}


def instance_cgroups(names: set[str]) -> list[str]:
    """Cgroup directories of these instances, in any hierarchy (v1 or v2) and under any parent."""
    found = []
    for directory, subdirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(directory, d) for d in subdirs if d in names]
        subdirs[:] = [d for d in subdirs if d not in names]
    return found


def mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line]


def kill_and_see_it_back(platform: Platform, name: str) -> None:
    others = {other: platform.leader(marker) for other, marker in PROGRAMS.items() if other != name}
    victim = platform.leader(PROGRAMS[name])
    assert victim is not None, f"{name} is not running"
    crashes = platform.output().count(f"paas: {name} crashed")
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: platform.leader(PROGRAMS[name]) not in (None, victim), 60, f"{name} to be restarted")
    assert platform.output().count(f"paas: {name} crashed") == crashes + 1
    assert {other: platform.leader(marker) for other, marker in PROGRAMS.items() if other != name} == others


def test_kill_9_of_each_process_comes_back_the_app_answers_throughout_and_ctrl_c_leaves_nothing(platform):
    names = instance_names(platform)
    with Load(platform.router_port, HOST, keepalive=3, fresh=1, pause=0.01) as load:
        requests_go_on(load, 100, "load through the router")
        for name in PROGRAMS:
            failed = load.tally.failed
            kill_and_see_it_back(platform, name)
            requests_go_on(load, 100, f"requests after the kill of {name}")
            if name == "router":
                # Only requests in flight on the killed router may fail: at most one per client.
                assert load.tally.failed - failed <= len(load.threads), load.tally.failures
            else:
                assert load.tally.failed == failed, (name, load.tally.failures)
        # Every restarted process does its work: a config change is a new release, rolled out
        # by the control loop and the agent, routed by the router.
        version = max(r["version"] for r in platform.api("GET", f"/apps/{APP}/releases")) + 1
        platform.api("PATCH", f"/apps/{APP}/config", {"GREETING": "still here"})
        wait_for(lambda: any(r["version"] == version and r["status"] == "succeeded"
                             for r in platform.api("GET", f"/apps/{APP}/releases")), 120, f"v{version} live")
        wait_for(lambda: b"still here" in served(platform), 60, "the new release served")
        names |= instance_names(platform)
    tally = load.stop()
    print(f"kill -9 of {len(PROGRAMS)} processes: {tally.ok} requests ok, {tally.failed} failed "
          f"(in flight on the killed router), {tally.retried} retried")

    events = wait_for(lambda: len(crash_events(platform)) >= len(PROGRAMS) and crash_events(platform), 60,
                      "a platform event for every crash")
    assert {f"platform process {name} crashed" for name in PROGRAMS} <= {e.split(" (")[0] for e in events}

    platform.stop()   # Ctrl-C
    assert platform.process.returncode == 0, platform.output()[-3000:]
    assert leftovers(platform.data_dir) == []
    assert instance_cgroups(names) == []
    assert mounts_under(platform.data_dir) == []


def crash_events(platform: Platform) -> list[str]:
    return [e["message"] for e in platform.api("GET", "/events?limit=500") if e["action"] == "platform.crash"]


def served(platform: Platform) -> bytes:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", platform.router_port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": HOST, "Connection": "close"})
        return conn.getresponse().read()
    except OSError:
        return b""
    finally:
        conn.close()
