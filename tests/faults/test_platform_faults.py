"""Faults of a whole `make up` platform under steady load on a deployed app (tests/load.py counts
every failed request): `kill -9` of the router, an upgrade, and restarts of its PostgreSQL and
Redis in the middle of a deploy. The servers restarted are the private ones this make up started
for this test, never the machine's own."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from paas.compose.backing import PrivatePostgres, reachable

from tests.faults.test_killed_mid_work import SLOW_BUILD_APP
from tests.faults.upplatform import deployed_platform, Platform, git_repo, leftovers
from tests.load import Load, first_answer_after
from tests.waiting import wait_for

APP = "faulty"
HOST = f"{APP}.localhost"

@pytest.fixture(scope="module")
def platform():
    with deployed_platform(APP, "faults") as running:
        yield running


def body(greeting: str) -> bytes:
    return f"{greeting} from the upgrade bench".encode()


def release_of(platform: Platform, version: int) -> dict:
    return next((r for r in platform.api("GET", f"/apps/{APP}/releases") if r["version"] == version), {})


def latest_version(platform: Platform) -> int:
    return max(r["version"] for r in platform.api("GET", f"/apps/{APP}/releases"))


def settled(platform: Platform, version: int) -> str | None:
    """The release's final status once its rollout ended, either way (never stuck half-way)."""
    status = release_of(platform, version).get("status")
    return status if status in ("succeeded", "failed") else None


def requests_go_on(load: Load, count: int, what: str) -> None:
    mark = load.total()
    wait_for(lambda: load.total() >= mark + count, 60, what, interval=0.05)


def test_kill_9_of_the_router_under_load_comes_back_at_once_and_an_upgrade_drops_nothing(platform):
    with Load(platform.router_port, HOST, keepalive=4, fresh=2) as load:
        requests_go_on(load, 200, "load through the router")
        victim = platform.leader("paas-router")
        since = time.monotonic()
        os.killpg(victim, signal.SIGKILL)   # the router and its workers at once
        back = first_answer_after(platform.router_port, HOST, since, 30)
        assert back is not None, "the router did not serve again"
        wait_for(lambda: platform.leader("paas-router") not in (None, victim), 30, "the new router")
        requests_go_on(load, 200, "load through the new router")
        killed = load.tally.failed
        # Only requests in flight on the killed router may fail: at most one per client. New
        # connections waited in the listening socket make up holds, none was refused.
        assert killed <= len(load.threads), load.tally.failures
        assert not any("Refused" in what for _, what in load.tally.failures)

        done = platform.output().count("paas: upgrade done")
        platform.upgrade()
        wait_for(lambda: platform.output().count("paas: upgrade done") > done or "upgrade stopped" in platform.output(),
                 300, "the upgrade to finish")
        assert "upgrade stopped" not in platform.output()
        requests_go_on(load, 300, "load through the upgraded platform")
    tally = load.stop()
    print(f"kill -9 of the router: serving again after {back:.2f} s, {killed} requests in flight failed; "
          f"upgrade: {tally.failed - killed} failed")
    assert tally.failed == killed, tally.failures


def redis_server(platform: Platform) -> int | None:
    for pid in leftovers(platform.data_dir):
        try:
            # redis-server rewrites its command line as "[/usr/bin/]redis-server 127.0.0.1:<port>".
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b" ")[0]
            if program.rsplit(b"/", 1)[-1] == b"redis-server":
                return pid
        except OSError:
            continue
    return None


def stop_redis(platform: Platform) -> None:
    os.kill(redis_server(platform), signal.SIGTERM)   # it keeps nothing on disk: it comes back empty
    wait_for(lambda: not reachable("127.0.0.1", int(platform.env["PAAS_REDIS_PORT"])), 30, "Redis to be gone")


def start_redis(platform: Platform) -> None:
    """As make up started it: the same configuration file (port, ACL users)."""
    redis_dir = platform.data_dir / "redis"
    with open(redis_dir / "redis.log", "ab") as log:
        subprocess.Popen([shutil.which("redis-server"), str(redis_dir / "redis.conf")], cwd=redis_dir,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: reachable("127.0.0.1", int(platform.env["PAAS_REDIS_PORT"])), 30, "Redis to be back")


def test_redis_restarted_mid_deploy_the_router_keeps_serving_and_the_deploy_ends_cleanly(platform):
    with Load(platform.router_port, HOST, keepalive=3, fresh=1, pause=0.01) as load:
        requests_go_on(load, 100, "load before the deploy")
        version = latest_version(platform) + 1
        platform.api("PATCH", f"/apps/{APP}/config", {"GREETING": "redis"})
        stop_redis(platform)
        # Away: the router serves from the table it has, the instances from their own memory.
        requests_go_on(load, 200, "requests while Redis is away")
        assert load.tally.failed == 0, load.tally.failures
        start_redis(platform)
        status = wait_for(lambda: settled(platform, version), 180, f"v{version} to finish its rollout")
        if status == "succeeded":
            wait_for(lambda: first_answer_after(platform.router_port, HOST, time.monotonic(), 2) is not None
                     and served_body(platform) == body("redis"), 60, "the new release served")
        requests_go_on(load, 200, "requests after the deploy")
    tally = load.stop()
    print(f"Redis restart mid-deploy: v{version} {status}, {tally.ok} requests ok, {tally.failed} failed")
    assert tally.failed == 0, tally.failures


def test_postgres_restarted_mid_deploy_instances_keep_serving_and_the_deploy_ends_cleanly(platform):
    postgres = PrivatePostgres(platform.data_dir / "postgres", int(platform.env["PAAS_PG_PORT"]), platform.data_dir)
    with Load(platform.router_port, HOST, keepalive=3, fresh=1, pause=0.01) as load:
        requests_go_on(load, 100, "load before the deploy")
        version = latest_version(platform) + 1
        platform.api("PATCH", f"/apps/{APP}/config", {"GREETING": "postgres"})
        postgres.stop()
        assert not reachable("127.0.0.1", postgres.port)
        # Away: nothing on the request path needs the database.
        requests_go_on(load, 200, "requests while PostgreSQL is away")
        assert load.tally.failed == 0, load.tally.failures
        postgres.start()   # as make up starts it: the same cluster, roles and passwords
        status = wait_for(lambda: api_answers(platform) and settled(platform, version), 180,
                          f"v{version} to finish its rollout")
        if status == "succeeded":
            wait_for(lambda: served_body(platform) == body("postgres"), 60, "the new release served")
        requests_go_on(load, 200, "requests after the deploy")
    tally = load.stop()
    print(f"PostgreSQL restart mid-deploy: v{version} {status}, {tally.ok} requests ok, {tally.failed} failed")
    assert tally.failed == 0, tally.failures


def api_answers(platform: Platform) -> bool:
    try:
        platform.api("GET", f"/apps/{APP}")
        return True
    except OSError:
        return False


def served_body(platform: Platform) -> bytes:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", platform.router_port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": HOST, "Connection": "close"})
        return conn.getresponse().read()
    except OSError:
        return b""
    finally:
        conn.close()


TICK = re.compile(r"tick (\d+)")
DROPPED = re.compile(r"\[paas: (\d+) lines of stdout dropped while the log service was unreachable\]")


def stored_lines(platform: Platform, query: str) -> list[str]:
    """Every line the Log Center stored for the app that matches ``query``, newest first."""
    lines, cursor = [], None
    while True:
        params = {"q": query, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = platform.api("GET", f"/apps/{APP}/logs/search?{urlencode(params)}")
        lines += [row["line"] for row in page["lines"]]
        cursor = page["cursor"]
        if not cursor:
            return lines


def test_app_log_lines_across_a_redis_restart_arrive_once_or_are_counted(platform):
    platform.api("PATCH", f"/apps/{APP}/formation", {"ticker": {"quantity": 1}})
    try:
        ticker = wait_for(lambda: next((i["name"] for i in platform.api("GET", f"/apps/{APP}/instances")
                                        if i["process"] == "ticker.1" and i["state"] == "up"), None),
                          120, "the ticker up")
        wait_for(lambda: len(stored_lines(platform, "process:ticker.1 tick")) > 20, 60, "ticks in the Log Center")
        written = platform.data_dir / "runtime" / "instances" / ticker / "stdout.log"
        stop_redis(platform)
        away_at = written.stat().st_size
        wait_for(lambda: written.stat().st_size > away_at + 1000, 30, "the ticker to write while Redis is away")
        start_redis(platform)
    finally:
        platform.api("PATCH", f"/apps/{APP}/formation", {"ticker": {"quantity": 0}})
    # Its last line is written as it stops, and shipped with the rest.
    last = wait_for(lambda: next((line for line in stored_lines(platform, '"ticker stopped after"')), None), 120,
                    "the ticker's last line in the Log Center")
    count = int(last.rsplit(" ", 1)[1])
    lines = stored_lines(platform, "process:ticker.1")
    numbers = [int(m.group(1)) for line in lines if (m := TICK.fullmatch(line))]
    dropped = sum(int(m.group(1)) for line in lines if (m := DROPPED.fullmatch(line)))
    print(f"Redis restart with an app logging: {len(numbers)} of {count} lines stored, {dropped} counted as dropped")
    assert len(numbers) == len(set(numbers)), "a line was stored twice"
    assert set(numbers) <= set(range(count))
    assert len(numbers) + dropped == count


def quietly(ask):
    """``ask()``, or None while the API cannot answer (its database restarting)."""
    try:
        return ask()
    except (OSError, ValueError):
        return None


def restart(platform: Platform, server: str) -> None:
    if server == "redis":
        stop_redis(platform)
        start_redis(platform)
    else:
        postgres = PrivatePostgres(platform.data_dir / "postgres", int(platform.env["PAAS_PG_PORT"]),
                                   platform.data_dir)
        postgres.stop()
        postgres.start()


@pytest.mark.parametrize("server", ["redis", "postgres"])
def test_a_push_with_its_server_restarted_mid_build_ends_live_or_fails_with_a_reason(platform, server, tmp_path):
    app = f"slow-{server}"
    platform.api("POST", "/apps", {"name": app})
    repo, env = git_repo(platform, tmp_path, app, SLOW_BUILD_APP)
    push = subprocess.Popen(["git", "push", "paas", "main"], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: quietly(lambda: any(b["status"] == "building"
                                             for b in platform.api("GET", f"/apps/{app}/builds"))),
                 120, "the build to run")
        restart(platform, server)
        _, err = push.communicate(timeout=900)
    finally:
        if push.poll() is None:
            push.kill()
            push.wait()
    # The build ends either way: never left building with nobody at it.
    builds = wait_for(lambda: quietly(lambda: (found := platform.api("GET", f"/apps/{app}/builds"))
                                      and all(b["status"] not in ("pending", "building") for b in found) and found),
                      300, "the build to end")
    reason = [line for line in err.splitlines() if " !  " in line or "failed" in line][:1]
    print(f"{server} restarted mid-build: push exited {push.returncode}, builds {[b['status'] for b in builds]} "
          f"{reason}")
    assert "Traceback" not in err, err[-3000:]
    if push.returncode == 0:
        # Success only with a live release that serves the pushed code.
        assert "deployed to paas" in err, err[-3000:]
        latest = max(platform.api("GET", f"/apps/{app}/releases"), key=lambda r: r["version"])
        assert latest["status"] == "succeeded"
        wait_for(lambda: first_answer_after(platform.router_port, f"{app}.localhost", time.monotonic(), 2)
                 is not None, 60, "the pushed app served")
    else:
        # Refused with its reason shown to the pusher.
        assert re.search(r"remote: +! ", err) or "build failed" in err or "deploy failed" in err, err[-3000:]
