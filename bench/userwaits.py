"""What users wait for, with the whole platform running (the second part of bench/runtime.py).

The platform is ``make up`` on a data directory of its own (tests/faults/upplatform.py), as root,
on a bridge, address pool and cgroup parent of its own. Everything is measured through the real
``paas`` CLI (a new process each time, as a user runs it) and the real router:

    scale_out_s         ``paas ps:scale web=+1`` started -> the new instance answers through the router
    run_first_output_s  ``paas run echo hi`` started -> ``hi`` read from its stdout
    wake_from_frozen_s  first request to a Flask app asleep (its instance frozen) -> answered
    wake_from_zero_s    first request to a Flask app scaled to zero -> answered
    idle_overhead_mb    memory the platform adds per idle bridged web instance the agent started
                        (kernel objects: netns, veth, mounts, cgroups; PID 1; the agent's and Redis's
                        own growth per instance: its bookkeeping and log-shipping offsets)

A round with any non-2xx answer or socket error is invalid: reported, not scored.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CGROUP_PARENT = "paas-benchup"
# The platform's own settings for this run (the rest are make up's defaults).
PLATFORM_ENV = {
    "PAAS_CGROUP_PARENT": CGROUP_PARENT, "PAAS_BRIDGE": "paasbup0", "PAAS_ADDRESS_POOL": "10.219.0.0/16",
    # Asleep 10 s after the router's last-minute metrics show no request (more than their 5 s
    # snapshot interval, or a request that woke it would not show yet and it would fall asleep again
    # at once); stopped only after an hour, so it stays asleep while the others are woken.
    "PAAS_FREEZE_IDLE_S": "10", "PAAS_SCALE_TO_ZERO_IDLE_S": "3600",
    # Room to place the idle-overhead sample: memory and CPU are reserved by size, not used by idle instances.
    "PAAS_HOST_MEMORY_MB": "200000", "PAAS_HOST_CPUS": "1000",
}
FLASK_APP = {
    "requirements.txt": "flask\n",
    "app.py": "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'flask awake'\n",
}
FLASK_BODY = b"flask awake"
# The longest an app served before may take to fall asleep: the router's window of request
# figures empties (60 s) and its next snapshot shows it (5 s), then PAAS_FREEZE_IDLE_S, then the
# control loop's light tick (10 s when idle) marks it asleep, its next full tick publishes and
# lets the agent freeze; a margin for a loaded machine.
SLEEP_WAIT_S = 60 + 5 + int(PLATFORM_ENV["PAAS_FREEZE_IDLE_S"]) + 10 + 35
# Between the polls of a measure: the new instance's first answer is timed to within this, and the
# poll costs the router (and the two shared cores the start runs on) far less than a busy loop.
POLL_S = 0.01


def say(text: str) -> None:
    print(f"-----> {text}", flush=True)


@dataclass
class Samples:
    """One measure's rounds: the valid ones' values, the invalid ones' reasons."""

    values: list[float] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class Up:
    """``make up`` on a data directory of its own, with the CLI, a router client and a Redis reader."""

    def __init__(self):
        sys.path.insert(0, str(CHECKOUT))
        from tests.faults.upplatform import Platform

        self.data_dir = Path(tempfile.mkdtemp(prefix="paas-benchup-", dir="/tmp"))
        self.data_dir.chmod(0o755)
        self.scratch = Path(tempfile.mkdtemp(prefix="paas-benchup-scratch-", dir="/tmp"))
        # Its settings go to make up itself: Platform drops the cgroup parent, bridge and pool of the
        # environment (the test suite's sandbox), so set there they never reached the platform, whose
        # instances then ran under make up's defaults beside another make up's, and instance_frozen
        # looked for them under CGROUP_PARENT in vain.
        self.platform = None
        self.platform = Platform(self.data_dir, PLATFORM_ENV)
        self.home = self.scratch / "home"
        self.home.mkdir()
        (self.home / ".netrc").write_text(f"machine 127.0.0.1 login admin password {self.platform.token}\n")
        (self.home / ".netrc").chmod(0o600)
        self._redis = None

    # -- the user's tools -------------------------------------------------------

    def cli_env(self) -> dict:
        return {"PATH": os.environ["PATH"], "HOME": str(self.home), "LANG": "C.UTF-8",
                "PAAS_API_URL": f"http://127.0.0.1:{self.platform.api_port}", "PAAS_TOKEN": self.platform.token}

    def cli_argv(self, *args: str) -> list[str]:
        return [str(BIN / "paas"), *args]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.cli_argv(*args), env=self.cli_env(), capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise RuntimeError(f"paas {' '.join(args)} failed: {result.stderr.strip()[-1000:]}")
        return result

    def get(self, app: str, timeout: float = 60.0) -> tuple[int, bytes]:
        """One request through the router on a new connection: (status, body); (0, error) on a socket error."""
        conn = http.client.HTTPConnection("127.0.0.1", self.platform.router_port, timeout=timeout)
        try:
            conn.request("GET", "/", headers={"Host": f"{app}.localhost", "Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            return 0, repr(exc).encode()
        finally:
            conn.close()

    def push(self, app: str, files: dict) -> None:
        """``paas apps:create`` and a real ``git push`` of ``files``; returns once the release is live."""
        self.cli("apps:create", app, "--no-remote")
        repo = self.scratch / f"src-{app}"
        repo.mkdir()
        for name, content in files.items():
            path = repo / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            if isinstance(content, bytes):
                path.chmod(0o755)
        env = {"HOME": str(self.home), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "app"],
                     ["remote", "add", "paas", f"http://127.0.0.1:{self.platform.git_port}/{app}.git"]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
        push = subprocess.run(["git", "push", "paas", "main"], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=900)
        if push.returncode != 0:
            raise RuntimeError(f"git push of {app} failed:\n{push.stderr[-3000:]}")

    # -- what the benchmark waits on between measurements (not measured) --------------

    def redis(self):
        """The platform's private Redis as its admin: only to wait for the route table."""
        if self._redis is None:
            import redis

            password = (self.data_dir / "credentials" / "redis-admin").read_text().strip()
            self._redis = redis.Redis(host="127.0.0.1", port=int(self.platform.env["PAAS_REDIS_PORT"]),
                                      username="admin", password=password)
        return self._redis

    def route(self, app: str) -> dict:
        raw = self.redis().get(f"paas:router:app:{app}")
        return json.loads(raw) if raw else {}

    def web(self, app: str) -> list[dict]:
        """The app's web instances the API lists: all but those stopped."""
        return [i for i in self.platform.api("GET", f"/apps/{app}/instances") if i["type"] == "web"]

    def running(self, app: str) -> list[dict]:
        return [i for i in self.web(app) if i["desired_state"] == "running"]

    def settled(self, app: str, count: int) -> bool:
        """``count`` web instances up, and exactly those in the router's table."""
        up = [i for i in self.running(app) if i["state"] == "up"]
        return len(up) == count == len(self.running(app)) and len(self.route(app).get("backends", [])) == count

    def stop(self) -> None:
        from tests.faults.upplatform import dispose

        dispose(self.platform, self.data_dir, self.scratch)
        remove_network_and_cgroups()


def remove_network_and_cgroups() -> None:
    """What make up keeps for its next start and this run's platform does not get: its bridge,
    with the forwarder and firewall rules of it, and its (emptied) cgroup parents."""
    teardown = ("from paas.runtime import firewall, ipam, network\n"
                "network.remove_bridge(ipam.segment(0))\nfirewall.remove_rules()\n")
    # A process of its own: the runtime reads its bridge and pool from the environment once.
    env = {"PATH": os.environ["PATH"], **{k: v for k, v in PLATFORM_ENV.items()
                                          if k in ("PAAS_BRIDGE", "PAAS_ADDRESS_POOL", "PAAS_CGROUP_PARENT")}}
    subprocess.run([sys.executable, "-P", "-c", teardown], env=env, capture_output=True, timeout=60)
    for parent in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"):
        for group in sorted((d for d in parent.rglob("*") if d.is_dir()), reverse=True):
            group.rmdir()
        parent.rmdir()


def instance_frozen(name: str) -> bool:
    """Is the instance's cgroup frozen (cgroup v1 freezer hierarchy or v2 cgroup.freeze)?"""
    v1 = Path("/sys/fs/cgroup/freezer") / CGROUP_PARENT / name
    if v1.is_dir():  # runtime/freezer.py's two groups: supervisors and workers
        states = [(v1 / group / "freezer.state").read_text().strip() for group in ("supervisors", "workers")
                  if (v1 / group / "freezer.state").exists()]
        return bool(states) and all(state == "FROZEN" for state in states)
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        v2 = root / CGROUP_PARENT / name / "cgroup.freeze"
        if v2.exists():
            return v2.read_text().strip() == "1"
    return False


# -- the measures ----------------------------------------------------------------------

def scale_out(up: Up, app: str, rounds: int) -> Samples:
    """``paas ps:scale web=+1`` -> the new instance's first answer through the router."""
    samples = Samples()
    for _ in range(rounds):
        wait_for(lambda: up.settled(app, 1), 120, "one web instance, routed")
        before = {i["process"].encode() for i in up.running(app)}
        errors = []
        started = time.monotonic()
        cli = subprocess.Popen(up.cli_argv("ps:scale", "web=+1", "-a", app), env=up.cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        elapsed = None
        while time.monotonic() - started < 60:
            status, body = up.get(app)
            if status != 200:
                errors.append(f"{status} {body[:80]!r}")
            elif body not in before:
                elapsed = time.monotonic() - started
                break
            time.sleep(POLL_S)
        _, err = cli.communicate(timeout=60)
        if cli.returncode != 0:
            errors.append(f"ps:scale exited {cli.returncode}: {err.decode(errors='replace')[-300:]}")
        if errors or elapsed is None:
            samples.invalid.append("; ".join(errors[:3]) or "the new instance never answered")
        else:
            samples.values.append(elapsed)
        up.cli("ps:scale", "web=-1", "-a", app)
    return samples


def run_first_output(up: Up, app: str, rounds: int) -> Samples:
    """``paas run echo hi`` -> ``hi`` on its stdout (the run's exit code must be 0)."""
    samples = Samples()
    for _ in range(rounds):
        started = time.monotonic()
        cli = subprocess.Popen(up.cli_argv("run", "--no-tty", "-a", app, "echo", "hi"), env=up.cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        seen, elapsed = b"", None
        while chunk := os.read(cli.stdout.fileno(), 4096):
            seen += chunk
            if b"hi" in seen and elapsed is None:
                elapsed = time.monotonic() - started
        _, err = cli.communicate(timeout=120)
        if cli.returncode != 0 or elapsed is None:
            samples.invalid.append(f"exit {cli.returncode}, output {seen[:80]!r}, {err.decode(errors='replace')[-300:]}")
        else:
            samples.values.append(elapsed)
    return samples


def timed_first_request(up: Up, app: str) -> tuple[float | None, str]:
    started = time.monotonic()
    status, body = up.get(app)
    elapsed = time.monotonic() - started
    if status != 200 or body != FLASK_BODY:
        return None, f"{status} {body[:120]!r}"
    return elapsed, ""


def wakes(up: Up, apps: list[str], cycles: int) -> tuple[Samples, Samples]:
    """Each cycle: every app falls asleep (frozen); each is woken by a request, scaled to zero, woken again."""
    frozen, zero = Samples(), Samples()
    for cycle in range(cycles):
        say(f"cycle {cycle + 1}/{cycles}: waiting for {len(apps)} Flask apps to fall asleep (a minute without requests)")
        waiting = time.monotonic()
        for app in apps:
            wait_for(lambda: up.route(app).get("frozen") and up.running(app) and
                     all(instance_frozen(i["name"]) for i in up.running(app)), SLEEP_WAIT_S,
                     f"{app} asleep and frozen", interval=0.5)
        say(f"all asleep and frozen after {time.monotonic() - waiting:.0f} s")
        for app in apps:
            elapsed, error = timed_first_request(up, app)
            (frozen.values.append(elapsed) if elapsed is not None else frozen.invalid.append(error))
            up.cli("ps:scale", "web=0", "-a", app)
            # At zero once its instance has stopped, not just been told to: a wake measured while the
            # agent still stops it (a graceful exit) would wait for that stop, which a user's never does.
            wait_for(lambda: up.route(app).get("scaled_to_zero") and not up.web(app), 120, f"{app} at zero",
                     interval=0.2)
            elapsed, error = timed_first_request(up, app)
            (zero.values.append(elapsed) if elapsed is not None else zero.invalid.append(error))
            wait_for(lambda: up.settled(app, 1), 120, f"{app} awake again")
    return frozen, zero


def idle_overhead(up: Up, app: str, sample: int, kernel_bytes, pss_bytes) -> float:
    """MB per idle instance the agent started (bridged, logs shipped), beyond the app's own memory."""
    agent = agent_pid(up.data_dir)
    redis_before = up.redis().info("memory")["used_memory"]
    agent_before, kernel_before = rss_bytes(agent), kernel_bytes()
    up.cli("ps:scale", f"web={sample}", "-a", app)
    wait_for(lambda: up.settled(app, sample), 600, f"{sample} idle instances up and routed", interval=0.5)
    try:
        time.sleep(3.0)  # a few agent passes (log shipping) and the kernel's lazy frees
        inits = [pid for pid in (init_pid(i["name"]) for i in up.running(app)) if pid]
        kernel = (kernel_bytes() - kernel_before) / sample
        agent_growth = max(0, rss_bytes(agent) - agent_before) / sample
        redis_growth = max(0, up.redis().info("memory")["used_memory"] - redis_before) / sample
        init = statistics.mean(pss_bytes(pid) for pid in inits) if inits else 0.0
        say(f"{sample} idle bridged instances, each: kernel memory {kernel / 2**20:.3f} MB, PID 1's PSS "
            f"{init / 2**20:.3f} MB, the agent's growth {agent_growth / 2**20:.3f} MB, "
            f"Redis's {redis_growth / 2**20:.3f} MB")
        return (kernel + init + agent_growth + redis_growth) / 2**20
    finally:
        up.cli("ps:scale", "web=1", "-a", app)
        wait_for(lambda: up.settled(app, 1), 300, "back to one instance", interval=0.5)


def _processes():
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            yield proc


def agent_pid(data_dir: Path) -> int:
    for proc in _processes():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if any(part.endswith(b"paas-agent") for part in cmdline[:2]) and f"PAAS_DATA_DIR={data_dir}\0".encode() in environ:
            return int(proc.name)
    raise RuntimeError("the platform's agent is not running")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def init_pid(name: str) -> int | None:
    """PID 1 of an instance: the process of its cgroup that is pid 1 in its own namespace."""
    for procs in (Path("/sys/fs/cgroup/memory") / CGROUP_PARENT / name / "cgroup.procs",
                  Path("/sys/fs/cgroup") / CGROUP_PARENT / name / "cgroup.procs"):
        try:
            pids = [int(p) for p in procs.read_text().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if nspid and nspid[-1] == "1":
                return pid
    return None
