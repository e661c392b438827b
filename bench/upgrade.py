"""Upgrade benchmark: app requests through the router while the whole platform is upgraded.

    .venv/bin/python -P bench/upgrade.py [--rounds 3] [--keep]

Runs ``make up`` itself (``python -m paas.compose.up``, as root: the agent runs the app) on a
data directory of its own under /tmp, with its private PostgreSQL and Redis on free ports,
deploys a small app (two web instances) with a real ``git push``, and puts steady load on it
through the router: keep-alive clients and new-connection clients (tests/load.py, which says
what counts as a failed request). Then, each round:

    upgrade   ``make upgrade`` (SIGHUP to make up: migrations, then every process restarted
              one at a time: API and git reloaded, build worker and router started beside the
              old ones, control loop and agent restarted), load running throughout, until
              make up reports the upgrade done and the new processes served a while
    kill      ``kill -9`` of the router (its leading process and its workers, at once): the
              time until a request sent after the kill is answered (make up restarts it on the
              listening socket it holds; connections wait in its queue meanwhile). Requests in flight on the killed
              router fail and are counted apart (router_kill_failed_requests), not as upgrade
              failures.

A round is invalid (and the benchmark fails) when the upgrade does not finish, the app stops
being served, or anything else goes wrong; the failed requests are counted, not hidden.

Clean-up (also on failure): Ctrl-C to make up (it stops its processes, the app's instances and
its private servers), then any process left that mentions the data directory, then the directory.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from tests.load import Load, first_answer_after  # noqa: E402

PY = sys.executable
BIN = Path(sys.executable).parent
APP = "upbench"
BODY = b"hello from the upgrade bench"
WEB_APP = {
    "Procfile": "web: python3 -u server.py\n",
    "server.py": (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_GET(self):\n"
        f"        body = {BODY!r}\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "print('listening on', os.environ['PORT'], flush=True)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")


class Platform:
    """``make up`` on a data directory of its own, until ``stop``."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.api_port, self.git_port, self.router_port = free_port(), free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        self.env.update(
            PAAS_DATA_DIR=str(data_dir), PAAS_API_PORT=str(self.api_port), PAAS_GIT_PORT=str(self.git_port),
            PAAS_PG_PORT=str(free_port()), PAAS_REDIS_PORT=str(free_port()),
            PAAS_ROUTER_PORT=str(self.router_port), PAAS_ROUTER_ADMIN_PORT=str(free_port()),
            PAAS_HOST_NAME=f"upgrade-bench-{os.getpid()}", PAAS_BUILD_STACKS="",
        )
        self.log_path = data_dir / "up.log"
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen([PY, "-P", "-m", "paas.compose.up"], cwd=CHECKOUT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.banner = wait_until(lambda: self.alive() and "Ctrl-C" in self.output() and self.output(), 180,
                                 "make up's banner")
        self.token = (data_dir / "admin-token").read_text().strip()
        wait_until(lambda: self.alive() and self.api_answers(), 120, "the API to answer")

    def api_answers(self) -> bool:
        try:
            self.api("GET", "/apps")
            return True
        except (OSError, urllib.error.URLError):
            return False

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"make up exited with {self.process.returncode}:\n{self.output()[-3000:]}")
        return True

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/api{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def upgrade(self) -> None:
        """``make upgrade``, as an operator runs it after a git pull."""
        result = subprocess.run([PY, "-P", "-m", "paas.compose.up", "--upgrade"], cwd=CHECKOUT, env=self.env,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"make upgrade failed: {result.stderr.strip()}")

    def leader(self, marker: str) -> int | None:
        """The pid of the program whose session leader's command line holds ``marker``."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (proc / "environ").read_bytes()
                pid = int(proc.name)
                if marker in cmdline and f"PAAS_DATA_DIR={self.data_dir}\0".encode() in environ \
                        and os.getsid(pid) == pid:
                    return pid
            except (OSError, ProcessLookupError):
                continue
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(180)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def leftovers(data_dir: Path) -> list[int]:
    """Processes whose environment or working directory names the data directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if f"={data_dir}".encode() in environ or cwd.startswith(str(data_dir)):
            found.append(int(proc.name))
    return found


def deploy(platform: Platform, scratch: Path) -> None:
    platform.api("POST", "/apps", {"name": APP})
    home = scratch / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine 127.0.0.1 login admin password {platform.token}\n")
    (home / ".netrc").chmod(0o600)
    repo = scratch / "src"
    repo.mkdir()
    for name, text in WEB_APP.items():
        (repo / name).write_text(text)
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "app"],
                 ["remote", "add", "paas", f"http://127.0.0.1:{platform.git_port}/{APP}.git"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    push = subprocess.run(["git", "push", "paas", "main"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=900)
    if push.returncode != 0:
        raise RuntimeError(f"git push failed:\n{push.stderr[-3000:]}")
    platform.api("PATCH", f"/apps/{APP}/formation", {"web": {"quantity": 2}})
    wait_until(lambda: len([i for i in platform.api("GET", f"/apps/{APP}/instances")
                            if i.get("state") == "up"]) >= 2, 120, "two web instances up")


def served(port: int) -> bool:
    return first_answer_after(port, f"{APP}.localhost", time.monotonic(), 2.0) is not None


def upgrade_round(platform: Platform, load: Load) -> dict:
    done_before = platform.output().count("paas: upgrade done")
    failed_before, retried_before = load.tally.failed, load.tally.retried
    started = time.monotonic()
    platform.upgrade()

    def finished():
        out = platform.output()
        if "upgrade stopped" in out[-5000:]:
            raise RuntimeError("make up stopped the upgrade:\n" + out[-3000:])
        return out.count("paas: upgrade done") > done_before

    wait_until(finished, 600, "make up to report the upgrade done", interval=0.2)
    took = time.monotonic() - started
    # The new processes carry the load a while before the round is judged.
    mark = load.total()
    wait_until(lambda: load.total() >= mark + 500, 60, "requests through the upgraded router")
    return {"upgrade_s": took, "failed": load.tally.failed - failed_before,
            "retried": load.tally.retried - retried_before}


def kill_round(platform: Platform, load: Load) -> dict:
    victim = platform.leader("paas-router")
    if victim is None:
        raise RuntimeError("no router is running")
    failed_before = load.tally.failed
    since = time.monotonic()
    # The whole router, workers included: nothing of the old one answers after this instant.
    os.killpg(victim, signal.SIGKILL)
    back = first_answer_after(platform.router_port, f"{APP}.localhost", since, 30)
    if back is None:
        raise RuntimeError("the router did not serve again within 30 s")
    wait_until(lambda: platform.leader("paas-router") not in (None, victim), 30, "the new router")
    mark = load.total()
    wait_until(lambda: load.total() >= mark + 300, 60, "requests through the restarted router")
    return {"restart_s": back, "failed": load.tally.failed - failed_before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (its up.log)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/upgrade.py: needs root (make up's agent runs the app's instances)", file=sys.stderr)
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="paas-upgrade-bench-", dir="/tmp"))
    data_dir.chmod(0o755)   # PostgreSQL runs as its own user under it
    scratch = Path(tempfile.mkdtemp(prefix="paas-upgrade-bench-src-"))
    platform = None
    upgrades, kills = [], []
    try:
        platform = Platform(data_dir)
        deploy(platform, scratch)
        wait_until(lambda: served(platform.router_port), 60, "the app served through the router")
        print(f"app {APP} deployed: 2 web instances behind the router on :{platform.router_port}", flush=True)
        with Load(platform.router_port, f"{APP}.localhost", body=BODY, keepalive=4, fresh=2) as load:
            wait_until(lambda: load.tally.ok >= 200, 60, "steady load")
            if load.tally.failed:
                raise RuntimeError(f"requests failed before any upgrade: {load.tally.failures}")
            for number in range(1, args.rounds + 1):
                result = upgrade_round(platform, load)
                upgrades.append(result)
                print(f"upgrade round {number}: every process restarted in {result['upgrade_s']:.1f} s, "
                      f"{result['failed']} failed requests, {result['retried']} retried on a new connection",
                      flush=True)
                if result["failed"]:
                    for when, what in load.tally.failures[-result["failed"]:]:
                        print(f"    failed: {what}", flush=True)
            for number in range(1, args.rounds + 1):
                result = kill_round(platform, load)
                kills.append(result)
                print(f"kill -9 router round {number}: serving again after {result['restart_s']:.2f} s, "
                      f"{result['failed']} requests in flight failed", flush=True)
            tally = load.stop()
        print(f"requests: {tally.ok} ok, {tally.failed} failed, {tally.retried} retried on a new connection")
    except (RuntimeError, OSError, subprocess.SubprocessError, urllib.error.URLError) as error:
        print(f"bench/upgrade.py: invalid run: {error}", file=sys.stderr)
        return 1
    finally:
        if platform is not None:
            platform.stop()
        for pid in leftovers(data_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)
        if args.keep:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(data_dir)])
    failed = sum(r["failed"] for r in upgrades)
    restart = statistics.median(r["restart_s"] for r in kills)
    print(f"RESULT upgrade_failed_requests {failed} <= 0")
    print(f"RESULT router_restart_s {restart:.2f} <= 2")
    print(f"RESULT router_kill_failed_requests {sum(r['failed'] for r in kills)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
