"""Deploy benchmark: push-to-serving time of a small Flask app, a small Express app and a Django 6 app.

    .venv/bin/python -P bench/deploy.py [--warm-runs 5] [--keep]
        [--control-interval S] [--agent-interval S]

For the Flask and Express apps: a cold deploy (a new app, so an empty build cache) and then
--warm-runs warm redeploys (same dependencies, one changed line); for the Django app
(tests/buildpacks/apps/django6: Django 6 on Python 3.14, whitenoise, gunicorn with a config
file, a release phase, app.json) its first push only. Every app is on the default stack
(forky; a forky stack already built here is linked in, else one is built once under
~/.cache/paas/bench-stacks, minutes). Each is timed
from the start of a real ``git push`` to the first response with the new body
through the router, and split into phases:

    receive  push start -> build started (pack upload, Build row, Celery queue)
    build    Build.started_at -> Build.finished_at (checkout, buildpacks, slug)
    release  build finished -> Release row (same transaction as the build's end)
    start    release row -> every new web instance "up" (control loop, placement,
             agent start, the app answering on $PORT: runtime/readiness.py)
    health   instances up -> new body served through the router (rollout judged,
             route table published and applied)

and the build phase further by the build's own output lines (each entry of its Redis stream carries
the worker's time of the line): detect (checkout, copy, detect steps), c.start (compile's container
to its first line), compile (the rest of compile, the release step), pack (the slug), store (image
store, adoption, the Build row).

During every warm redeploy a client does keep-alive GETs through the router and
counts non-200 answers and connection errors until the old instances are gone.

Set-up (its own, all removed at the end, also on failure): a scratch PostgreSQL
database (migrated), a data directory under /tmp, a Redis key prefix and build
queue of its own, free ports, and the platform's processes started as
``make up`` starts them (the control loop's and the agent's own intervals unless
given): git server, build worker, control loop, host agent (needs root), router. package-lock.json of the Express app is
generated with npm during set-up. Clean-up: apps destroyed and their instances
stopped by the agent, processes stopped, ``paas-runner sweep``, data directory,
database and Redis keys removed.

A deploy whose instances took long to answer, or that failed requests, gets its
story printed: the instances' state changes and the failed requests in time order.

Dockerfile apps (``--only dockerfile`` runs them alone): a loopback docker-registry (Debian's,
started as tests/registry.py starts it) serves a base image made from the default stack's root
filesystem; a Flask app built from a Dockerfile ``FROM`` it deploys cold and then takes --warm-runs
one-line changes (dockerfile_warm_redeploy_s: their median, push start to new body through the
router; a round with an error or a failed request is invalid: reported, not scored), and a second app
from the same base deploys once: image_layers_shared is 1 when the two images have layers in common
and the image store holds every layer once (its layer directories counted). Then the same Flask app
(another app of it) is built on a Docker engine instead (PAAS_BUILD_DOCKER_HOST): a dockerd of the
bench's own (started as tests/dockerd.py starts it) and a git receiver and build worker of their own
with that setting, and the registry its builds push to (started as ``make up`` starts it), cold then
--warm-runs one-line changes: dockerfile_engine_warm_redeploy_s, beside the buildah one (``--only engine``
runs it alone).

``--only flask`` runs the Flask app alone (a quicker round for comparing changes to its warm redeploy).

Ends with RESULT lines (warm_redeploy_s is the Flask app's median warm redeploy, cold_django_s
the Django app's first push to serving); a missed target is printed as measured, not hidden.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
CHECKOUT = Path(__file__).resolve().parent.parent
TAG = f"benchdeploy{os.getpid()}"
POLL_S = 0.02  # router polling and the steady client's pause between requests
DB_POLL_S = 0.04  # how often the phase watcher reads the database
DEPLOY_TIMEOUT_S = 900
SLOW_BOOT_S = 5.0  # instances slower than this to come up get their story printed

# --- the sample apps -----------------------------------------------------------------

FLASK_APP = {
    "requirements.txt": "flask\ngunicorn\n",
    "Procfile": "web: gunicorn -b 0.0.0.0:$PORT -w 2 app:app\n",
    "app.py": (
        "from flask import Flask\n"
        "\n"
        "app = Flask(__name__)\n"
        "VERSION = {version}\n"
        "\n"
        "\n"
        "@app.get('/')\n"
        "def index():\n"
        "    return f'hello from flask v{{VERSION}}'\n"
    ),
}
FLASK_BODY = "hello from flask v{version}"

EXPRESS_APP = {
    "package.json": (
        '{\n  "name": "bench-express",\n  "version": "1.0.0",\n  "private": true,\n'
        '  "scripts": {"start": "node server.js"},\n  "dependencies": {"express": "^4.21.2"}\n}\n'
    ),
    "server.js": (
        "const express = require('express');\n"
        "const app = express();\n"
        "const VERSION = {version};\n"
        "app.get('/', (req, res) => res.type('text/plain').send(`hello from express v${{VERSION}}`));\n"
        "const port = process.env.PORT || 5000;\n"
        "app.listen(port, '0.0.0.0', () => console.log(`listening on ${{port}}`));\n"
    ),
}
EXPRESS_BODY = "hello from express v{version}"

# Built from a Dockerfile (buildah in the build sandbox) on a base image the benchmark's loopback
# registry serves: the default stack's root filesystem (Python 3) with the platform's trust bundle.
# Flask comes from PyPI through the host's network, as a buildpack build gets it; the pip step is
# cached (--layers), so a warm redeploy runs COPY app.py alone.
DOCKERFILE_APP = {
    "Dockerfile": (
        "FROM {base}\n"
        "RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --no-cache-dir flask gunicorn\n"
        "WORKDIR /srv\n"
        "COPY app.py /srv/app.py\n"
        "EXPOSE 5000\n"
        'CMD ["/bin/sh", "-c", "exec /opt/venv/bin/gunicorn -b 0.0.0.0:$PORT -w 2 app:app"]\n'
    ),
    "app.py": FLASK_APP["app.py"].replace("hello from flask", "hello from dockerfile flask"),
}
DOCKERFILE_BODY = "hello from dockerfile flask v{version}"
# The second app from the same base (for image_layers_shared): Python's own HTTP server.
SECOND_IMAGE_APP = {
    "Dockerfile": (
        "FROM {base}\n"
        "WORKDIR /srv\n"
        "COPY index.html /srv/index.html\n"
        'CMD ["/bin/sh", "-c", "exec python3 -m http.server $PORT"]\n'
    ),
    "index.html": "second image v{version}",
}
SECOND_IMAGE_BODY = "second image v{version}"
BASE_IMAGE = "paas/python:1"

DJANGO_DIR = CHECKOUT / "tests" / "buildpacks" / "apps" / "django6"
DJANGO_BODY = "django 6.0"  # a prefix: the body goes on with the versions


def django_files() -> dict:
    return {str(p.relative_to(DJANGO_DIR)): p.read_text() for p in sorted(DJANGO_DIR.rglob("*")) if p.is_file()}


@dataclass
class SampleApp:
    kind: str  # "flask" or "express"
    files: dict
    body: str
    prefix: bool = False  # the body only starts with `body`
    name: str = ""
    repo: Path | None = None
    app_id: int | None = None

    def render(self, version: int) -> dict:
        return {path: text.format(version=version) if "{version}" in text else text
                for path, text in self.files.items()}


# --- processes -------------------------------------------------------------------------


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


class Processes:
    """Programs in their own sessions, logs in the data dir; stop() ends each whole group."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            child = subprocess.Popen(argv, env=env or self.env, cwd=self.log_dir, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.children[name] = child
        return child

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited with status {child.returncode}:\n{self.log(name)[-3000:]}")

    def wait_for_port(self, name: str, port: int, timeout: float = 60) -> None:
        def listening():
            self.check()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(listening, timeout, f"{name} to listen on {port}")

    def stop(self, names: list[str] | None = None) -> None:
        """Stop the children named (all by default)."""
        children = [child for name, child in self.children.items() if names is None or name in names]
        for child in children:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for name in names or ():
            self.children.pop(name, None)  # gone on purpose: check() no longer asks after them
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()


def start_platform(procs: Processes, env: dict, control_interval: float | None, agent_interval: float | None) -> None:
    """The platform's processes with the arguments ``make up`` gives them (compose/up.py).

    The intervals of the control loop and the agent are theirs unless given (to see what shorter ones buy).
    """
    router_port = int(env["PAAS_ROUTER_PORT"])
    start_builds(procs, env, "")
    procs.start("control", [str(BIN / "paas-control"), *interval_flag(control_interval)])
    procs.start("agent", [str(BIN / "paas-agent"), *interval_flag(agent_interval)])
    procs.start("router", [str(BIN / "paas-router"), "--host", "127.0.0.1", "--port", str(router_port),
                           "--admin-port", str(free_port())])
    procs.wait_for_port("router", router_port)

    def host_up():
        from paas.platform.models import Host

        procs.check()
        return Host.objects.filter(name=env["PAAS_HOST_NAME"], state=Host.UP).exists()

    wait_until(host_up, 60, "the agent to register its host")


def start_builds(procs: Processes, env: dict, prefix: str) -> None:
    """A git server and a build worker (on env's PAAS_GIT_PORT and PAAS_BUILD_QUEUE), as ``make up`` starts
    them; their logs named with `prefix`. Returns once both are ready."""
    git_port = int(env["PAAS_GIT_PORT"])
    procs.start(f"{prefix}git", [str(BIN / "gunicorn"), "paas.platform.git.wsgi:application", "--bind",
                                 f"127.0.0.1:{git_port}", "--worker-class", "gthread", "--workers", "1", "--threads",
                                 "32", "--timeout", "60", "--chdir", str(procs.log_dir), "--log-level", "warning"],
                env)
    procs.start(f"{prefix}worker", [str(BIN / "celery"), "-A", "paas.platform.celery", "worker", "-Q",
                                    env["PAAS_BUILD_QUEUE"], "-n", f"{prefix}{TAG}@%h", "--concurrency", "2",
                                    "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                                    "--without-heartbeat"], env)
    procs.wait_for_port(f"{prefix}git server", git_port)

    def worker_ready():
        procs.check()
        return " ready." in procs.log(f"{prefix}worker")

    wait_until(worker_ready, 60, f"the {prefix}build worker to be ready")


def interval_flag(seconds: float | None) -> list[str]:
    return [] if seconds is None else ["--interval", str(seconds)]


# --- git -----------------------------------------------------------------------------


class Pusher:
    """Real git with a HOME of its own whose .netrc holds the API token."""

    def __init__(self, home: Path, git_url: str):
        self.home, self.git_url = home, git_url

    def env(self) -> dict:
        return {"HOME": str(self.home), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

    def git(self, repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(["git", *args], cwd=repo, env=self.env(), capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def create(self, path: Path, files: dict, app_name: str) -> None:
        path.mkdir(parents=True)
        self.git(path, "init", "-q", "-b", "main")
        write_files(path, files)
        self.git(path, "add", "-A")
        self.git(path, "commit", "-q", "-m", "v1")
        self.git(path, "remote", "add", "paas", f"{self.git_url}/{app_name}.git")

    def change(self, path: Path, files: dict, message: str) -> None:
        write_files(path, files)
        self.git(path, "commit", "-q", "-am", message)


def write_files(root: Path, files: dict) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def npm_lockfile(files: dict, scratch: Path) -> str:
    """package-lock.json for the Express app, resolved by npm against the registry."""
    work = scratch / "npm-lock"
    work.mkdir(parents=True)
    write_files(work, {"package.json": files["package.json"]})
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "npm_config_cache": str(scratch / "npm-cache"),
           "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
    result = subprocess.run(["npm", "install", "--package-lock-only", "--ignore-scripts"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"npm could not write package-lock.json:\n{result.stdout}\n{result.stderr}")
    return (work / "package-lock.json").read_text()


# --- watching one deploy ------------------------------------------------------------


def load_average() -> str:
    """The machine may be shared: its load says how much the figures can be trusted."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def first_line(body: str) -> str:
    """An error page's title and the router's error code (router/pages.py), or the start of a body."""
    import re

    title, code = re.search(r"<title>(.*?)</title>", body), re.search(r"code=(H\d+)", body)
    if title:
        return title.group(1) + (f" {code.group(1)}" if code else "")
    return body[:80]


class RouterClient(threading.Thread):
    """Keep-alive GETs through the router, one every POLL_S.

    Remembers when the expected body was first served. While ``counting`` is
    set, a non-200 answer or a connection error counts as a failed request.
    """

    def __init__(self, port: int, host: str):
        super().__init__(daemon=True)
        self.port, self.host = port, host
        self.expected = ""
        self.prefix = False
        self.seen_at: float | None = None
        self.seen = threading.Event()
        self.counting = threading.Event()
        self.stopping = threading.Event()
        self.requests = 0
        self.failed: list[tuple[float, str]] = []  # (time.time(), what came back)

    def expect(self, body: str, prefix: bool = False) -> None:
        self.seen.clear()
        self.seen_at = None
        self.expected = body
        self.prefix = prefix

    def run(self) -> None:
        conn = None
        while not self.stopping.is_set():
            status, body, error = 0, "", ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/", headers={"Host": self.host})
                response = conn.getresponse()
                status, body = response.status, response.read().decode(errors="replace")
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
                if conn is not None:
                    conn.close()
                conn = None
            now = time.time()
            if self.counting.is_set():
                self.requests += 1
                if status != 200:
                    self.failed.append((now, error or f"{status} {first_line(body)}"))
            expected = body.startswith(self.expected) if self.prefix else body == self.expected
            if status == 200 and expected and self.seen_at is None:
                self.seen_at = now
                self.seen.set()
            self.stopping.wait(POLL_S)
        if conn is not None:
            conn.close()


@dataclass
class Marks:
    """Wall-clock times (time.time()) of one deploy's milestones."""

    push_start: float = 0.0
    push_end: float | None = None
    build_created: float | None = None
    build_started: float | None = None
    build_finished: float | None = None
    release_created: float | None = None
    version: int | None = None
    instances_created: float | None = None  # the control loop made the new instances
    instances_started: float | None = None  # the agent launched the last of them
    instances_up: float | None = None  # observed by polling: every new web instance up
    live: float | None = None  # observed by polling: the release judged succeeded
    served: float | None = None
    buildpack_note: str = ""
    build_uuid: str = ""
    build_lines: list[tuple[float, str]] = field(default_factory=list)  # the build's output stream, entry times
    timeline: list[str] = field(default_factory=list)
    failed: list[tuple[float, str]] = field(default_factory=list)  # failed requests during this deploy
    extra: dict = field(default_factory=dict)

    def phases(self) -> dict[str, float | None]:
        def span(a, b):
            return None if a is None or b is None else b - a

        return {
            "receive": span(self.push_start, self.build_started),
            "build": span(self.build_started, self.build_finished),
            "release": span(self.build_finished, self.release_created),
            "start": span(self.release_created, self.instances_up),
            "health": span(self.instances_up, self.served),
            "total": span(self.push_start, self.served),
        }

    def details(self) -> dict[str, float | None]:
        def span(a, b):
            return None if a is None or b is None else b - a

        return {
            "push→row": span(self.push_start, self.build_created),
            "queue": span(self.build_created, self.build_started),
            "ctl": span(self.release_created, self.instances_created),
            "launch": span(self.instances_created, self.instances_started),
            "boot": span(self.instances_started, self.instances_up),
            "judge": span(self.instances_up, self.live),
            "route": span(self.live, self.served),
            "push_exit": span(self.push_start, self.push_end),
        }

    def steps(self) -> dict[str, float | None]:
        """The build phase split by its own output lines (each stream entry's id is the worker's time
        of the line, in ms): detect = build start to "X app detected" (checkout, copy, detect steps);
        c.start = to compile's first line (its container, the interpreter choice); compile = to
        "Discovering process types" (the rest of compile, the release step, links made hard links);
        pack = to "Done:" (the slug); store = to the build's end (image store, adopt, the row)."""
        def first(predicate, after: float | None = None) -> float | None:
            return next((t for t, line in self.build_lines if predicate(line) and (after is None or t >= after)),
                        None)

        def span(a, b):
            return None if a is None or b is None else b - a

        detected = first(lambda line: line.startswith("-----> ") and line.endswith(" app detected"))
        following = next((t for (t0, line0), (t, _) in zip(self.build_lines, self.build_lines[1:])
                          if t0 == detected and line0.endswith(" app detected")), None)
        discovering = first(lambda line: line == "-----> Discovering process types")
        done = first(lambda line: line.startswith("       Done: "), discovering)
        return {"detect": span(self.build_started, detected), "c.start": span(detected, following),
                "compile": span(following, discovering), "pack": span(discovering, done),
                "store": span(done, self.build_finished)}


class PhaseWatcher(threading.Thread):
    """Reads the database every DB_POLL_S and fills in a deploy's Marks."""

    def __init__(self, app_id: int, after_version: int, marks: Marks):
        super().__init__(daemon=True)
        self.app_id, self.after_version, self.marks = app_id, after_version, marks
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.states: dict[str, tuple] = {}

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopping.is_set():
                self.poll()
                self.stopping.wait(DB_POLL_S)
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            connection.close()

    def poll(self) -> None:
        from paas.platform.models import Build, Instance, Release

        m = self.marks
        self.note_instances()
        build = Build.objects.filter(app_id=self.app_id).order_by("-created_at").first()
        if build is None or build.created_at.timestamp() < m.push_start - 1:
            return
        m.build_created = build.created_at.timestamp()
        m.build_started = build.started_at.timestamp() if build.started_at else None
        m.build_finished = build.finished_at.timestamp() if build.finished_at else None
        m.buildpack_note = build.buildpack
        m.build_uuid = str(build.uuid)
        release = Release.objects.filter(app_id=self.app_id, build=build, version__gt=self.after_version).first()
        if release is None:
            return
        m.release_created, m.version = release.created_at.timestamp(), release.version
        rows = list(Instance.objects.filter(release=release, process_type="web", desired_state=Instance.RUNNING))
        if rows:
            m.instances_created = max(r.created_at.timestamp() for r in rows)
            if all(r.started_at for r in rows):
                m.instances_started = max(r.started_at.timestamp() for r in rows)
            if m.instances_up is None and all(r.state == Instance.UP for r in rows):
                m.instances_up = time.time()
        if m.live is None and release.status == Release.SUCCEEDED:
            m.live = time.time()

    def note_instances(self) -> None:
        """Every state change of the app's instances, for explaining a slow deploy afterwards."""
        from paas.platform.models import Instance

        fields = ("name", "desired_state", "state", "restarts", "exit_code", "address")
        for row in Instance.objects.filter(app_id=self.app_id).values_list(*fields):
            if self.states.get(row[0]) != row[1:]:
                self.states[row[0]] = row[1:]
                offset = time.time() - self.marks.push_start
                self.marks.timeline.append(f"+{offset:6.2f}s {row[0]} desired={row[1]} state={row[2]} "
                                           f"restarts={row[3]} exit={row[4]} address={row[5]}")


def build_lines(build_uuid: str) -> list[tuple[float, str]]:
    """(time, line) of each entry of the build's output stream (platform/builds/output.py)."""
    from paas.platform.builds.output import stream_key
    from paas.platform.redis_client import get_redis

    if not build_uuid:
        return []
    entries = get_redis().xrange(stream_key(build_uuid))
    return [(int(entry_id.split(b"-")[0]) / 1000, fields[b"line"].decode("utf-8", "replace"))
            for entry_id, fields in entries if b"line" in fields]


def latest_version(app_id: int) -> int:
    from paas.platform.models import Release

    return Release.objects.filter(app_id=app_id).order_by("-version").values_list("version", flat=True).first() or 0


def old_instances_gone(app_id: int, version: int) -> bool:
    from paas.platform.models import Instance

    return not (Instance.objects.filter(app_id=app_id).exclude(release__version=version)
                .exclude(state__in=[Instance.STOPPED, Instance.CRASHED, Instance.OOM_KILLED]).exists())


def deploy(pusher: Pusher, app: SampleApp, client: RouterClient, version: int, procs: Processes) -> Marks:
    """Push ``version`` of ``app`` and wait until the router serves it; return the milestones."""
    if version == 1:
        pusher.create(app.repo, app.render(version), app.name)
    else:
        pusher.change(app.repo, app.render(version), f"v{version}")
    client.expect(app.body.format(version=version), app.prefix)
    marks = Marks()
    watcher = PhaseWatcher(app.app_id, latest_version(app.app_id), marks)
    marks.push_start = time.time()
    watcher.start()
    try:
        push = subprocess.run(["git", "push", "paas", "main"], cwd=app.repo, env=pusher.env(),
                              capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S)
        marks.push_end = time.time()
        if push.returncode != 0:
            raise RuntimeError(f"git push of {app.name} v{version} failed:\n{push.stderr[-4000:]}")
        (pusher.home.parent / f"push-{app.name}-v{version}.txt").write_text(push.stderr)
        deadline = time.monotonic() + DEPLOY_TIMEOUT_S
        while not client.seen.wait(0.5):
            procs.check()
            if watcher.error is not None:
                raise watcher.error
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app.name} v{version} was not served within {DEPLOY_TIMEOUT_S}s")
        marks.served = client.seen_at
        # Let the watcher see the last milestones (up, live) of this deploy.
        wait_until(lambda: marks.live is not None and marks.instances_up is not None or watcher.error, 30,
                   "the rollout's end", interval=0.05)
        # The switch is over when the old instances have stopped; a little after that too.
        wait_until(lambda: old_instances_gone(app.app_id, marks.version), 60, "the old instances to stop")
        time.sleep(1.0)  # the draining tail: requests just after the old instances stopped
    finally:
        watcher.stopping.set()
        watcher.join(10)
    if watcher.error is not None:
        raise watcher.error
    marks.failed = [(t, what) for t, what in client.failed if t >= marks.push_start]
    marks.build_lines = build_lines(marks.build_uuid)
    client.failed.clear()
    return marks


# --- reporting -------------------------------------------------------------------------

PHASES = ("receive", "build", "release", "start", "health", "total")
DETAILS = ("push→row", "queue", "ctl", "launch", "boot", "judge", "route", "push_exit")
STEPS = ("detect", "c.start", "compile", "pack", "store")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(title: str, rows: list[tuple[str, Marks]]) -> str:
    lines = [title, f"  {'deploy':<12}" + "".join(f"{p:>9}" for p in PHASES) + "   | "
             + "".join(f"{d:>10}" for d in DETAILS)]
    for label, marks in rows:
        phases, details = marks.phases(), marks.details()
        lines.append(f"  {label:<12}" + "".join(f"{fmt(phases[p]):>9}" for p in PHASES) + "   | "
                     + "".join(f"{fmt(details[d]):>10}" for d in DETAILS))
    warm = [m for label, m in rows if label.startswith("warm")]
    if len(warm) > 1:
        med = {p: median_of(m.phases()[p] for m in warm) for p in PHASES}
        med_d = {d: median_of(m.details()[d] for m in warm) for d in DETAILS}
        lines.append(f"  {'warm median':<12}" + "".join(f"{fmt(med[p]):>9}" for p in PHASES) + "   | "
                     + "".join(f"{fmt(med_d[d]):>10}" for d in DETAILS))
    return "\n".join(lines)


def median_of(values) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def steps_table(title: str, rows: list[tuple[str, Marks]]) -> str:
    """The build phase of each deploy split by its output lines (Marks.steps)."""
    lines = [title, f"  {'deploy':<12}" + "".join(f"{s:>9}" for s in STEPS)]
    for label, marks in rows:
        steps = marks.steps()
        lines.append(f"  {label:<12}" + "".join(f"{fmt(steps[s]):>9}" for s in STEPS))
    warm = [m for label, m in rows if label.startswith("warm")]
    if len(warm) > 1:
        lines.append(f"  {'warm median':<12}" + "".join(f"{fmt(median_of(m.steps()[s] for m in warm)):>9}"
                                                       for s in STEPS))
    return "\n".join(lines)


def explain_slow(app: SampleApp, rows: list[tuple[str, Marks]]) -> None:
    """For a deploy whose instances took long to come up: their state changes and the app's last log lines."""
    from paas.platform.logs import recent

    slow = [(label, m) for label, m in rows if (m.details()["boot"] or 0) > SLOW_BOOT_S or m.failed]
    for label, marks in slow:
        print(f"{app.kind} {label}: instances up {fmt(marks.details()['boot'])} s after they started, "
              f"{len(marks.failed)} failed requests; what happened (time since push start):")
        story = marks.timeline + [f"+{t - marks.push_start:6.2f}s request failed: {what}" for t, what in marks.failed]
        for line in sorted(story, key=lambda text: float(text[1:].split("s", 1)[0])):
            print("    " + line)
    if slow:
        print(f"{app.kind}: last lines of the app's log:")
        rows = sorted(recent(app.name, 20, source="app") + recent(app.name, 10, source="platform"),
                      key=lambda row: tuple(int(part) for part in row["id"].split("-")))
        for row in rows:
            print(f"    {row.get('ts', '')} {row.get('source', '')} {row.get('process', '')} {row.get('line', '')}")


# --- set-up and clean-up ------------------------------------------------------------------


def create_database(base_url: str, name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    admin = psycopg2.connect(base_url.rsplit("/", 1)[0] + "/postgres")
    try:
        admin.autocommit = True
        admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()


def drop_database(base_url: str, name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    admin = psycopg2.connect(base_url.rsplit("/", 1)[0] + "/postgres")
    try:
        admin.autocommit = True
        admin.cursor().execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        admin.close()


def clean_redis(redis_url: str, prefix: str, queue: str) -> int:
    """Every key this run made: its prefix, its build queue and the worker's bindings."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    keys += [queue.encode(), f"_kombu.binding.{queue}".encode(), f"_kombu.binding_permanent.{queue}".encode()]
    removed = client.delete(*keys) if keys else 0
    # The worker's remote-control binding sits in a set shared by all workers: remove only its member.
    for member in client.smembers("_kombu.binding.celery.pidbox"):
        if TAG.encode() in member:
            client.srem("_kombu.binding.celery.pidbox", member)
    client.close()
    return removed


STACK_CANDIDATES = (CHECKOUT / ".paas" / "runtime" / "stacks", Path("/tmp/paas-stacks-tests"))


def link_default_stack(data_dir: Path) -> None:
    """The default stack in this run's runtime dir: a build of it found on this machine is linked
    in (a stack is read-only to instances); else it is built once into the benchmark's cache."""
    name = os.environ.get("PAAS_DEFAULT_STACK", "forky")
    cache = Path(os.environ.get("PAAS_CACHE_DIR") or Path.home() / ".cache" / "paas") / "bench-stacks"
    found = next((d / name for d in (*STACK_CANDIDATES, cache / "stacks") if (d / name / "stack.json").is_file()), None)
    if found is None:
        print(f"building stack {name} once into {cache} (debootstrap: minutes)", flush=True)
        env = {**os.environ, "PAAS_RUNTIME_DIR": str(cache)}
        subprocess.run([str(BIN / "paas-runner"), "stack:build", name], env=env, check=True, timeout=3600)
        found = cache / "stacks" / name
    stacks = data_dir / "runtime" / "stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    (stacks / name).symlink_to(found)


class BaseRegistry:
    """docker-registry on loopback holding BASE_IMAGE: the default stack's root filesystem with the
    platform's trust bundle (what a build trusts), made and pushed by the host's buildah. The platform
    pulls from it over plain HTTP (PAAS_REGISTRY_ALLOW and _INSECURE name it alone)."""

    def __init__(self, root: Path):
        sys.path.insert(0, str(CHECKOUT))
        from tests import registry  # the test suite's registry start and seeding, one implementation

        self.root, self.registry = root, registry
        root.mkdir(parents=True)
        self.seeder = registry.Seeder(root)
        self.server, self.address = None, ""

    def start(self, stack_name: str) -> str:
        from paas.runtime import stacks, trust

        self.server, self.address = self.registry.serve(self.root)
        rootfs = stacks.get(stack_name).layers[0]
        bundle = trust.refresh() / trust.BUNDLE_NAME
        self.seeder.image(BASE_IMAGE, self.address, copies=[(f"{rootfs}/", "/"),
                                                           (bundle, "/etc/ssl/certs/ca-certificates.crt")],
                          # debootstrap's /dev nodes: an image layer with a device node is refused on import.
                          config=["--env", "PATH=/usr/local/bin:/usr/bin:/bin"], ignore=["dev/*"])
        return f"{self.address}/{BASE_IMAGE}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(10)
        self.seeder.clean()


def layers_shared(first: SampleApp, second: SampleApp) -> tuple[int, str]:
    """1 when the two apps' latest images have layers in common and the store holds every layer once
    (its layer directories are exactly the union of the layers of every image it holds, earlier
    releases' included), else 0; and the counts."""
    from paas.platform.models import Build
    from paas.runtime import images

    layers = []
    for app in (first, second):
        build = Build.objects.filter(app_id=app.app_id).exclude(slug_digest="").order_by("-created_at").first()
        layers.append(set(images.get(build.slug_digest).layers))
    held = [images.get(digest) for digest in images.all_digests()]
    union = {layer[7:] for image in held if image.is_oci for layer in image.layers}
    stored = {d.name for d in images.oci_dir().iterdir() if d.is_dir() and not d.is_symlink()}
    common = layers[0] & layers[1]
    ok = bool(common) and stored == union
    return int(ok), (f"{len(layers[0])} + {len(layers[1])} layers, {len(common)} in common; {len(held)} images "
                     f"hold {len(union)} distinct layers, {len(stored)} layer directories in the store")


def dockerfile_app(kind: str, files: dict, body: str, base: str, env: dict, apps: list, user, suffix: str) -> SampleApp:
    """A new app of the Dockerfile `files` FROM `base` (destroyed at the end like the others)."""
    from paas.platform.actions.apps import create_app

    app = SampleApp(kind, {k: v.replace("{base}", base) for k, v in files.items()}, body)
    app.name = f"bench-{kind}-{suffix}"
    app.app_id = create_app(user, app.name).pk
    app.repo = Path(env["PAAS_DATA_DIR"]) / "src" / kind
    apps.append(app)
    return app


def dockerfile_round(args, env: dict, pusher: "Pusher", apps: list, base: str, procs: "Processes",
                     user, suffix: str) -> list[str]:
    """A Flask app from a Dockerfile (buildah): cold, then warm one-line changes; a second app from the same base.

    Returns RESULT dockerfile_warm_redeploy_s (median of the valid warm rounds) and image_layers_shared."""
    flask = dockerfile_app("dockerfile", DOCKERFILE_APP, DOCKERFILE_BODY, base, env, apps, user, suffix)
    second = dockerfile_app("second-image", SECOND_IMAGE_APP, SECOND_IMAGE_BODY, base, env, apps, user, suffix)
    value = warm_rounds(args, env, pusher, flask, procs, "dockerfile")
    return [f"RESULT dockerfile_warm_redeploy_s {value} <= 5", *second_image(pusher, flask, second, env, procs)]


def engine_round(args, env: dict, pusher: "Pusher", apps: list, base: str, procs: "Processes",
                 user, suffix: str) -> list[str]:
    """The same Flask app built on a Docker engine (PAAS_BUILD_DOCKER_HOST): a dockerd of the bench's own,
    and a git receiver and build worker with that setting; cold, then warm one-line changes.

    Returns RESULT dockerfile_engine_warm_redeploy_s (median of the valid warm rounds)."""
    from paas.compose import up
    from tests import dockerd  # the test suite's engine start and clean-up, one implementation

    with dockerd.engine() as url:
        engine_env = {**env, "PAAS_GIT_PORT": str(free_port()), "PAAS_BUILD_QUEUE": engine_queue(env["PAAS_BUILD_QUEUE"]),
                      "PAAS_BUILD_DOCKER_HOST": url, "PAAS_BUILD_REGISTRY_PORT": str(free_port())}
        try:
            # The registry the engine's builds push to, as make up starts it; the worker gets its address and login.
            registry, builds_env = up.build_registry(engine_env)
            procs.start("engine-registry", registry.argv, registry.env)
            procs.wait_for_port("build registry", int(builds_env["PAAS_BUILD_REGISTRY"].rsplit(":", 1)[1]))
            engine_env.update(builds_env)
            start_builds(procs, engine_env, "engine-")
            flask = dockerfile_app("dockerfile-engine", DOCKERFILE_APP, DOCKERFILE_BODY, base, env, apps, user, suffix)
            engine_pusher = Pusher(pusher.home, f"http://127.0.0.1:{engine_env['PAAS_GIT_PORT']}")
            value = warm_rounds(args, env, engine_pusher, flask, procs, "engine dockerfile")
        finally:
            procs.stop(["engine-git", "engine-worker", "engine-registry"])  # before their engine goes
    return [f"RESULT dockerfile_engine_warm_redeploy_s {value} <= 5"]


def engine_queue(queue: str) -> str:
    return f"{queue}-engine"


def warm_rounds(args, env: dict, pusher: "Pusher", flask: SampleApp, procs: "Processes", label: str) -> str:
    """`flask` deployed cold, then --warm-runs one-line changes; the median of the valid warm rounds (or
    "invalid"). An error in a warm redeploy (or a failed request during it) makes that round invalid:
    reported, not scored."""
    client = RouterClient(int(env["PAAS_ROUTER_PORT"]), f"{flask.name}.{env['PAAS_BASE_DOMAIN']}")
    client.start()
    rows, invalid = [], []
    try:
        try:
            marks = deploy(pusher, flask, client, 1, procs)
        except Exception as error:  # noqa: BLE001 - nothing to redeploy: the measurement is invalid
            print(f"{label}: invalid (not scored): the first deploy failed: ...{str(error)[-2500:]}")
            return "invalid"
        rows.append(("cold", marks))
        print(f"{label} cold: {fmt(marks.phases()['total'])} s; load average {load_average()}", flush=True)
        client.counting.set()
        for n in range(args.warm_runs):
            try:
                marks = deploy(pusher, flask, client, n + 2, procs)
            except Exception as error:  # noqa: BLE001 - the round is reported, the next one tried
                invalid.append(f"warm {n + 1}: {str(error)[:300]}")
                continue
            if marks.failed:
                invalid.append(f"warm {n + 1}: {len(marks.failed)} failed requests, first {marks.failed[0][1]}")
                continue
            rows.append((f"warm {n + 1}", marks))
            print(f"{label} warm {n + 1}: {fmt(marks.phases()['total'])} s; load average {load_average()}",
                  flush=True)
    finally:
        client.stopping.set()
        client.join(15)
    print(table(f"{label} flask (seconds)", rows))
    explain_slow(flask, rows)
    for reason in invalid:
        print(f"{label}: invalid round (not scored): {reason}")
    warm = [m.phases()["total"] for label, m in rows[1:]]
    return f"{statistics.median(warm):.2f}" if warm else "invalid"


def second_image(pusher: "Pusher", flask: SampleApp, second: SampleApp, env: dict, procs: "Processes") -> list[str]:
    """Deploy the second app from the same base; its RESULT line (invalid when a deploy failed)."""
    client = RouterClient(int(env["PAAS_ROUTER_PORT"]), f"{second.name}.{env['PAAS_BASE_DOMAIN']}")
    client.start()
    try:
        marks = deploy(pusher, second, client, 1, procs)
        print(f"second image cold: {fmt(marks.phases()['total'])} s; load average {load_average()}", flush=True)
        shared, counts = layers_shared(flask, second)
    except Exception as error:  # noqa: BLE001 - reported, not scored
        print(f"image_layers_shared: invalid (not scored): ...{str(error)[-2500:]}")
        return ["RESULT image_layers_shared invalid >= 1"]
    finally:
        client.stopping.set()
        client.join(15)
    print(f"image layers: {counts}")
    return [f"RESULT image_layers_shared {shared} >= 1"]


def destroy_apps(apps: list[SampleApp], instances_dir: Path, agent_alive) -> None:
    """Empty the desired state (destroy the apps) and wait for the agent to stop every instance."""
    from django.contrib.auth import get_user_model

    from paas.platform.actions.apps import destroy_app
    from paas.platform.models import App

    admin = get_user_model().objects.filter(username="bench").first()
    for app in apps:
        row = App.objects.filter(pk=app.app_id).first() if app.app_id else None
        if row is not None:
            destroy_app(admin, row, confirm=row.name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and agent_alive() and instances_dir.is_dir() and any(instances_dir.iterdir()):
        time.sleep(0.2)


def buildpack_rounds(args, env: dict, data_dir: Path, pusher: "Pusher", apps: list, procs: "Processes", user,
                     suffix: str) -> list[str]:
    """Flask and Express cold then warm, Django cold: their tables and RESULT lines."""
    from paas.platform.actions.apps import create_app

    ours = [SampleApp("flask", FLASK_APP, FLASK_BODY)]
    django = None
    if args.only != "flask":  # --only flask: a quicker round for comparing changes to the warm redeploy
        express_files = dict(EXPRESS_APP)
        express_files["package-lock.json"] = npm_lockfile(EXPRESS_APP, data_dir / "scratch")
        django = SampleApp("django", django_files(), DJANGO_BODY, prefix=True)
        ours += [SampleApp("express", express_files, EXPRESS_BODY), django]
    apps.extend(ours)  # destroyed at the end like the others
    for app in ours:
        app.name = f"bench-{app.kind}-{suffix}"
        app.app_id = create_app(user, app.name).pk
        app.repo = data_dir / "src" / app.kind
    results: dict[str, list[tuple[str, Marks]]] = {}
    failures = {}
    executor = env["PAAS_BUILD_EXECUTOR"]
    for app in ours[:2]:  # Flask and Express: cold, then warm redeploys
        client = RouterClient(int(env["PAAS_ROUTER_PORT"]), f"{app.name}.{env['PAAS_BASE_DOMAIN']}")
        client.start()
        rows = []
        try:
            marks = deploy(pusher, app, client, 1, procs)
            rows.append(("cold", marks))
            print(f"{app.kind} cold: {fmt(marks.phases()['total'])} s ({marks.buildpack_note})", flush=True)
            client.counting.set()  # from here on the app serves: every request must succeed
            for n in range(args.warm_runs):
                marks = deploy(pusher, app, client, n + 2, procs)
                rows.append((f"warm {n + 1}", marks))
                print(f"{app.kind} warm {n + 1}: {fmt(marks.phases()['total'])} s", flush=True)
        finally:
            client.stopping.set()
            client.join(15)
        results[app.kind] = rows
        explain_slow(app, rows)
        failures[app.kind] = (sum(len(m.failed) for _, m in rows[1:]), client.requests)
    django_marks = django_round(env, pusher, django, procs) if django is not None else None
    if django_marks is not None:
        results["django"] = [("cold", django_marks)]
    print()
    for kind, rows in results.items():
        print(table(f"{kind} (seconds; phases add up to total; details on the right)", rows))
        print(steps_table(f"{kind} build phase by its output lines (seconds)", rows))
        print()
    print("details: push→row = push start to Build row; queue = row to worker start; ctl = release to "
          "instances created (control loop);\n         launch = to the agent starting the last; boot = to "
          "all up (answering HTTP); judge = up to release live;\n         route = live to new body through "
          "the router; push_exit = push start to git push exiting")
    print("build steps: detect = build start to 'X app detected' (checkout, copy, detect); c.start = to "
          "compile's first line;\n         compile = to 'Discovering process types' (compile, release, hard links); "
          "pack = to the slug written; store = to the build's end")
    print(f"load average at the end: {load_average()} (on {os.cpu_count()} CPUs)")
    for kind, (failed, total) in failures.items():
        print(f"{kind}: {failed} failed of {total} requests through the router during its warm redeploys")
    for kind, rows in results.items():
        slow = [label for label, m in rows if (m.details()["boot"] or 0) > SLOW_BOOT_S]
        if slow:
            print(f"{kind}: instances answered more than {SLOW_BOOT_S:g} s after they started in "
                  f"{len(slow)} of {len(rows)} deploys ({', '.join(slow)}); their stories are above")
    flask = results["flask"]
    warm = statistics.median(m.phases()["total"] for label, m in flask[1:])
    failed = sum(f for f, _ in failures.values())
    notes = [f"build executor {executor}"] if executor != "container" else []
    notes += [f"{name} interval {value} s" for name, value in
              (("control", args.control_interval), ("agent", args.agent_interval)) if value is not None]
    note = f"  ({', '.join(notes)})" if notes else ""
    lines = [f"RESULT warm_redeploy_s {warm:.2f} <= 1.0{note}"]
    if django_marks is not None:
        lines.append(f"RESULT cold_django_s {django_marks.phases()['total']:.2f} <= 30{note}")
    return lines + [f"RESULT failed_requests {failed} <= 0{note}"]


def django_round(env: dict, pusher: "Pusher", django: SampleApp, procs: "Processes") -> Marks:
    """The Django app's first push, to serving."""
    client = RouterClient(int(env["PAAS_ROUTER_PORT"]), f"{django.name}.{env['PAAS_BASE_DOMAIN']}")
    client.start()
    try:
        marks = deploy(pusher, django, client, 1, procs)
    finally:
        client.stopping.set()
        client.join(15)
    print(f"django cold: {fmt(marks.phases()['total'])} s ({marks.buildpack_note})", flush=True)
    return marks


def bench_pusher(env: dict, data_dir: Path):
    """The benchmark's staff user and a git pusher holding its API token."""
    from django.contrib.auth import get_user_model

    from paas.platform.actions.tokens import issue_token

    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password-1")
    user.is_staff = True
    user.save()
    _, token = issue_token(user, description="deploy benchmark")
    home = data_dir / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine 127.0.0.1 login bench password {token}\n")
    (home / ".netrc").chmod(0o600)
    return user, Pusher(home, f"http://127.0.0.1:{env['PAAS_GIT_PORT']}")


def run(args, env: dict, data_dir: Path) -> list[str]:
    """Set up, deploy each app cold then warm, and return the RESULT lines."""
    procs = Processes(env, data_dir)
    apps: list[SampleApp] = []
    registry = BaseRegistry(data_dir / "registry") if args.only not in ("buildpacks", "flask") else None
    try:
        link_default_stack(data_dir)
        base = ""
        if registry is not None:
            base = registry.start(os.environ.get("PAAS_DEFAULT_STACK", "forky"))
            for name in ("PAAS_REGISTRY_ALLOW", "PAAS_REGISTRY_INSECURE"):  # the build worker pulls from it
                env[name] = os.environ[name] = registry.address
        start_platform(procs, env, args.control_interval, args.agent_interval)
        user, pusher = bench_pusher(env, data_dir)
        suffix = os.urandom(3).hex()
        intervals = ", ".join(f"{name} interval {f'{value} s' if value is not None else '(its default)'}"
                              for name, value in (("control loop", args.control_interval),
                                                  ("agent", args.agent_interval)))
        print(f"platform up: build executor {env['PAAS_BUILD_EXECUTOR']}, {intervals}; "
              f"{args.warm_runs} warm redeploys per app; load average {load_average()}", flush=True)
        results = []
        if args.only in ("all", "buildpacks", "flask"):
            results += buildpack_rounds(args, env, data_dir, pusher, apps, procs, user, suffix)
        if args.only in ("all", "dockerfile"):
            results += dockerfile_round(args, env, pusher, apps, base, procs, user, suffix)
        if registry is not None:
            results += engine_round(args, env, pusher, apps, base, procs, user, suffix)
        return results
    except BaseException:
        for name in procs.children:
            sys.stderr.write(f"--- tail of {name}.log ---\n{procs.log(name)[-2500:]}\n")
        raise
    finally:
        try:
            destroy_apps(apps, data_dir / "runtime" / "instances",
                         lambda: "agent" in procs.children and procs.children["agent"].poll() is None)
        finally:
            procs.stop()
            subprocess.run([str(BIN / "paas-runner"), "sweep"], env=env, capture_output=True, timeout=120)
            if registry is not None:
                registry.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=5, help="warm redeploys per app (median reported)")
    parser.add_argument("--control-interval", type=float, help="paas-control --interval (default: its own)")
    parser.add_argument("--agent-interval", type=float, help="paas-agent --interval (default: its own)")
    parser.add_argument("--only", choices=("all", "buildpacks", "flask", "dockerfile", "engine"), default="all",
                        help="the buildpack apps (Flask, Express, Django), the Flask app alone (warm_redeploy_s and "
                             "failed_requests), the Dockerfile apps (buildah, then a Docker engine), the Docker "
                             "engine's alone, or all")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (process logs) afterwards")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/deploy.py needs root: the host agent runs instances in namespaces and cgroups")
        return 2
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paas")
    db_name = f"paas_bench_deploy_{os.getpid()}"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix, queue = f"{TAG}:", f"builds-{TAG}"
    data_dir = Path(tempfile.mkdtemp(prefix="paas-bench-deploy-", dir="/tmp"))
    data_dir.chmod(0o755)
    env = {
        **os.environ,
        "DATABASE_URL": f"{base_url.rsplit('/', 1)[0]}/{db_name}",
        "REDIS_URL": redis_url,
        "CELERY_RESULT_BACKEND": "",  # no result keys left in Redis; nothing reads task results
        "PAAS_REDIS_PREFIX": prefix,
        "PAAS_BUILD_QUEUE": queue,
        "PAAS_DATA_DIR": str(data_dir),
        "PAAS_GIT_PORT": str(free_port()),
        "PAAS_ROUTER_PORT": str(free_port()),
        "PAAS_BASE_DOMAIN": "localhost",
        "PAAS_HOST_NAME": f"{TAG}-host",
        "PAAS_HOST_ADDRESS": "127.0.0.1",
        "PAAS_BUILD_EXECUTOR": os.environ.get("PAAS_BUILD_EXECUTOR", "container"),
        "DJANGO_SETTINGS_MODULE": "paas.platform.settings",
        "PYTHONSAFEPATH": "1",
    }
    os.environ.update(env)  # Django in this process reads the same settings
    created = False
    try:
        create_database(base_url, db_name)
        created = True
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        results = run(args, env, data_dir)
    finally:
        from django.db import connections

        connections.close_all()
        if created:
            drop_database(base_url, db_name)
        clean_redis(redis_url, prefix, queue)
        clean_redis(redis_url, prefix, engine_queue(queue))
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    print()
    for line in results:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
