"""``make up`` as a user runs it, on a data directory of its own, with an app deployed by a real
``git push``: what tests/faults and bench/upgrade.py put load on, kill processes of and upgrade.

Needs root (make up's agent runs the app's instances). Everything it starts is found again by
its data directory (environment or working directory) and removed by ``stop``/``leftovers``.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e.platform_procs import free_port
from tests.load import first_answer_after
from tests.waiting import wait_for

CHECKOUT = Path(__file__).resolve().parents[2]
PY = sys.executable
BODY = b"hello from the upgrade bench"
WEB_APP = {
    # ticker (scaled to 0 unless a test scales it) numbers its lines: what tests/faults counts.
    "Procfile": "web: python3 -u server.py\nticker: python3 -u ticker.py\n",
    "ticker.py": (
        "import signal, time\n"
        "stopping = []\n"
        "signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))\n"
        "n = 0\n"
        "while not stopping:\n"
        "    print(f'tick {n}', flush=True)\n"
        "    n += 1\n"
        "    time.sleep(0.02)\n"
        "print(f'ticker stopped after {n}', flush=True)\n"
    ),
    "server.py": (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_GET(self):\n"
        "        body = (os.environ.get('GREETING', 'hello') + ' from the upgrade bench').encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "print('listening on', os.environ['PORT'], flush=True)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    ),
}


class Platform:
    """``make up`` on a data directory of its own, until ``stop``; ``settings`` over make up's defaults."""

    def __init__(self, data_dir: Path, settings: dict | None = None):
        self.data_dir = data_dir
        self.api_port, self.git_port, self.router_port = free_port(), free_port(), free_port()
        # Not the suite's runtime sandbox (tests/conftest.py): make up runs its instances under its
        # own data dir, as a user's would, and its Ctrl-C must not stop the runtime tests' containers.
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PAAS_RUNTIME_DIR",
                                 "PAAS_CGROUP_PARENT", "PAAS_BRIDGE", "PAAS_ADDRESS_POOL")}
        self.env.update(
            PAAS_DATA_DIR=str(data_dir), PAAS_API_PORT=str(self.api_port), PAAS_GIT_PORT=str(self.git_port),
            PAAS_PG_PORT=str(free_port()), PAAS_REDIS_PORT=str(free_port()),
            PAAS_ROUTER_PORT=str(self.router_port), PAAS_ROUTER_ADMIN_PORT=str(free_port()),
            PAAS_ROUTER_TLS_PORT=str(free_port()),  # 8443 is the make up of whoever else runs one here
            PAAS_HOST_NAME=f"upgrade-bench-{os.getpid()}", PAAS_BUILD_STACKS="",
        )
        # After the filter above: a caller's own cgroup parent, bridge and pool (bench/userwaits.py) stay.
        self.env.update(settings or {})
        self.log_path = data_dir / "up.log"
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen([PY, "-P", "-m", "paas.compose.up"], cwd=CHECKOUT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.banner = wait_for(lambda: self.alive() and "Ctrl-C" in self.output() and self.output(), 180,
                                 "make up's banner")
        self.token = (data_dir / "admin-token").read_text().strip()
        wait_for(lambda: self.alive() and self.api_answers(), 120, "the API to answer")

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

def dispose(platform: "Platform | None", data_dir: Path, scratch: Path, keep: bool = False) -> None:
    """Stop make up, kill anything it left, remove the scratch tree and (unless kept) the data dir."""
    if platform is not None:
        platform.stop()
    for pid in leftovers(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)
    if not keep:
        subprocess.run(["rm", "-rf", str(data_dir)])


def deploy(platform: Platform, scratch: Path, app: str, web: int = 2) -> None:
    """Create ``app``, push WEB_APP to it and scale it to ``web`` instances, all up."""
    platform.api("POST", "/apps", {"name": app})
    repo, env = git_repo(platform, scratch, app, WEB_APP)
    push = subprocess.run(["git", "push", "paas", "main"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=900)
    if push.returncode != 0:
        raise RuntimeError(f"git push failed:\n{push.stderr[-3000:]}")
    platform.api("PATCH", f"/apps/{app}/formation", {"web": {"quantity": web}})
    wait_for(lambda: len([i for i in platform.api("GET", f"/apps/{app}/instances")
                            if i.get("state") == "up"]) >= web, 120, f"{web} web instances up")
    wait_for(lambda: served(platform.router_port, app), 60, "the app served through the router")


def git_repo(platform: Platform, scratch: Path, app: str, files: dict) -> tuple[Path, dict]:
    """A committed repository of ``files`` under ``scratch`` with the remote ``paas`` of ``app``, and
    the environment of a git that pushes to it as the admin."""
    home = scratch / "home"
    if not home.exists():
        home.mkdir()
        (home / ".netrc").write_text(f"machine 127.0.0.1 login admin password {platform.token}\n")
        (home / ".netrc").chmod(0o600)
    repo = scratch / f"src-{app}"
    repo.mkdir()
    for name, text in files.items():
        (repo / name).write_text(text)
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "app"],
                 ["remote", "add", "paas", f"http://127.0.0.1:{platform.git_port}/{app}.git"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo, env


def served(port: int, app: str) -> bool:
    return first_answer_after(port, f"{app}.localhost", time.monotonic(), 2.0) is not None




@contextlib.contextmanager
def deployed_platform(app: str, name: str):
    """make up on a data directory of its own with ``app`` deployed (two web instances), disposed afterwards."""
    assert os.geteuid() == 0, "make up runs apps only as root (its agent): run these tests as root"
    data_dir = Path(tempfile.mkdtemp(prefix=f"paas-{name}-", dir="/tmp"))
    data_dir.chmod(0o755)   # PostgreSQL runs as its own user under it
    scratch = Path(tempfile.mkdtemp(prefix=f"paas-{name}-src-"))
    running = None
    try:
        running = Platform(data_dir)
        deploy(running, scratch, app, web=2)
        yield running
    finally:
        # PAAS_KEEP_E2E=1 keeps the data dir, to read make up's log (up.log) afterwards.
        dispose(running, data_dir, scratch, keep=os.environ.get("PAAS_KEEP_E2E") == "1")
