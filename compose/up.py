"""``make up``: the whole platform on this machine, in the foreground, until Ctrl-C.

Starts (or uses) PostgreSQL and Redis, migrates, creates the first admin on first
start, then runs every platform process (the API and console under uvicorn). Ctrl-C stops everything it started, private
database servers included.

``make upgrade`` (``python -m paas.compose.up --upgrade``), after a ``git pull``, sends
SIGHUP to the running ``make up``: it migrates, then restarts its processes one at a time
without dropping an app request (supervisor.py).
"""

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from paas.compose import credentials
from paas.compose.backing import Backing, Endpoints, ServiceError
from paas.compose.supervisor import OVERLAP, RELOAD, RESTART, Listen, Program, Supervisor
from paas.platform import api_server
from paas.router.config import SettingError
from paas.router.config import Settings as RouterSettings
from paas.router.serving.handover import ADMIN_FD, LISTEN_FD, TLS_FD

CHECKOUT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def data_dir() -> Path:
    return Path(os.environ.get("PAAS_DATA_DIR") or CHECKOUT / ".paas").resolve()


def pid_file(directory: Path) -> Path:
    """Where a running ``make up`` writes its pid, for ``make upgrade``."""
    return directory / "up.pid"


def admin(env: dict, *args: str, capture: bool = False) -> str:
    """Run a ``paas-admin`` command with the platform's environment; raise on failure."""
    result = subprocess.run(
        [str(BIN / "paas-admin"), *args], env=env, cwd=env["PAAS_DATA_DIR"], text=True,
        capture_output=capture,
    )
    if result.returncode != 0:
        raise ServiceError(f"paas-admin {args[0]} failed" + (f": {result.stderr.strip()}" if capture else ""))
    return result.stdout if capture else ""


def crash_reporter(env: dict):
    """A Supervisor on_crash callback: each crash becomes a platform event in the audit log.

    It runs in a thread of its own, so a slow or unreachable database never delays a restart.
    """
    def report(name: str, code: int, delay: float, looping: bool) -> None:
        what = "is crash-looping" if looping else "crashed"
        message = f"platform process {name} {what} (exit {code}); restarting in {delay:.0f} s"
        action = "platform.crash_loop" if looping else "platform.crash"
        threading.Thread(target=subprocess.run, args=([str(BIN / "paas-admin"), "event", action, message],),
                         kwargs={"env": env, "cwd": env["PAAS_DATA_DIR"], "capture_output": True, "timeout": 60},
                         daemon=True).start()
    return report


def stop_instances(env: dict) -> None:
    """Ctrl-C stops the apps too: the agent's instances outlive the agent by design (an agent
    restart must not stop them), so a platform shutdown stops them explicitly. The next
    `make up` starts them again from the desired state."""
    if os.geteuid() != 0:
        return
    grace = float(os.environ.get("PAAS_STOP_GRACE", "30"))
    try:
        subprocess.run([str(BIN / "paas-agent"), "--stop-instances"], env=env, cwd=env["PAAS_DATA_DIR"],
                       timeout=grace + 60, check=False)
    except subprocess.TimeoutExpired:
        print("paas: some instances did not stop in time; `paas-runner sweep` clears them", file=sys.stderr)


def component_env(env: dict, endpoints: Endpoints, component: str) -> dict:
    """``env`` with the database and Redis credentials of ``component`` only (see compose/redis_acl.py)."""
    own = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**own, **endpoints.env(component)}


def programs(env: dict, endpoints: Endpoints) -> list[Program]:
    """Every process of the platform on this machine, in start order, each with its own credentials."""
    api_bind = f"{os.environ.get('PAAS_API_BIND', '127.0.0.1')}:{os.environ.get('PAAS_API_PORT', '8000')}"
    git_bind = f"{os.environ.get('PAAS_API_BIND', '127.0.0.1')}:{os.environ.get('PAAS_GIT_PORT', '8001')}"
    data = env["PAAS_DATA_DIR"]
    gunicorn = [str(BIN / "gunicorn"), "--chdir", data, "--worker-class", "gthread", "--log-level", "warning"]
    router = RouterSettings.from_env()
    # A push holds its request open while it builds: on an upgrade the git receiver's old workers
    # get as long as a build may take (and its rollout) to finish the pushes they serve.
    push_grace = str(int(os.environ.get("PAAS_BUILD_TIMEOUT_S", "900")) + 300)
    found = [
        # Long polls (log follow, run output) wait on the event loop: see platform/api_server.py.
        # Upgrades: uvicorn's SIGHUP starts each worker anew with the new code and retires the old
        # one once the new one is ready, on the same listening socket.
        Program("api", api_server.argv(*api_bind.rsplit(":", 1), os.environ.get("PAAS_API_WORKERS", "2")),
                env=env, cwd=data, upgrade=RELOAD),
        # A push holds its request open while it builds: threads keep that cheap.
        Program("git", [*gunicorn, "paas.platform.git.wsgi:application", "--bind", git_bind,
                        "--workers", "1", "--threads", "32", "--timeout", "60", "--graceful-timeout", push_grace],
                env=env, cwd=data, upgrade=RELOAD),
        # A new worker takes queued builds at once; the old one finishes the builds it runs (Celery's
        # warm shutdown), which an interrupted one would otherwise cost a redelivery.
        Program("builds", [str(BIN / "celery"), "-A", "paas.platform.celery", "worker", "-n", "builds@%h", "-Q",
                           os.environ.get("PAAS_BUILD_QUEUE", "builds"),
                           "--concurrency", os.environ.get("PAAS_BUILD_CONCURRENCY", "2"), "--loglevel", "INFO",
                           "--without-gossip", "--without-mingle"], env=env, cwd=data, upgrade=OVERLAP),
        # Backups on a worker of their own (platform/settings.py CELERY_TASK_ROUTES): a long pg_dump
        # never delays a build. Upgraded like the build worker: a running backup finishes.
        Program("backups", [str(BIN / "celery"), "-A", "paas.platform.celery", "worker", "-n", "backups@%h", "-Q",
                            os.environ.get("PAAS_BACKUP_QUEUE", "backups"),
                            "--concurrency", os.environ.get("PAAS_BACKUP_CONCURRENCY", "1"), "--loglevel", "INFO",
                            "--without-gossip", "--without-mingle"], env=env, cwd=data, upgrade=OVERLAP),
        # Level-triggered: stopped, then started with the new code, it converges from the database.
        Program("control", [str(BIN / "paas-control")], env=env, cwd=data, upgrade=RESTART),
        # The router needs no database, and its Redis user reads routes and writes logs and metrics only.
        # Its listening sockets are ours (router/handover.py): a new router serves beside the old one on
        # an upgrade, and after a crash the kernel queues connections until the next one accepts,
        # which is why it is restarted at once (doubling from 0.1 s in a crash loop).
        Program("router", [str(BIN / "paas-router")], env=component_env(env, endpoints, "router"), cwd=data,
                upgrade=OVERLAP, notify=True, restart_first_s=0.1,
                listen=[Listen(LISTEN_FD, router.host, router.port),
                        Listen(ADMIN_FD, router.admin_host, router.admin_port)]
                + ([Listen(TLS_FD, router.host, router.tls_port)] if router.tls_port is not None else [])),
    ]
    found += log_center(env, endpoints, data)
    registry = build_registry(env)
    if registry is not None:  # before the build worker, which pushes there
        program, builds_env = registry
        builds = next(p for p in found if p.name == "builds")
        builds.env = {**builds.env, **builds_env}
        found.insert(found.index(builds), program)
    if os.geteuid() == 0:
        found += stack_builds(env, data)
        # The agent fetches slugs it did not build with the admin token written at first start.
        token_file = Path(data) / "admin-token"
        agent_env = component_env(env, endpoints, "agent")
        if token_file.exists():
            agent_env["PAAS_AGENT_TOKEN"] = token_file.read_text().strip()
        # Its instances outlive it; the new agent adopts them.
        found.append(Program("agent", [str(BIN / "paas-agent")], env=agent_env, cwd=data, upgrade=RESTART))
    return found


def log_center(env: dict, endpoints: Endpoints, data: str) -> list[Program]:
    """``paas-logs`` (the store owner, with an ingest worker of its own) and ``PAAS_LOG_INGEST_WORKERS``
    more workers (``paas-logs-ingest``, default 0) beside it, each its own consumer name.

    They keep lines in the owner's embedded store: their Redis user only reads the log streams through
    the consumer group, and they need no database. The owner takes workers' batches over TCP only when
    there are workers here or ``PAAS_LOG_INGEST_BIND`` says where others reach it (so a default make up
    holds no port more than before); the token it takes them with is made at first need
    (credentials/logcenter-ingest) and given to them alone, by environment."""
    own = {k: v for k, v in component_env(env, endpoints, "logcenter").items() if k != "DATABASE_URL"}
    raw = os.environ.get("PAAS_LOG_INGEST_WORKERS", "").strip() or "0"
    if not raw.isdigit() or int(raw) > 64:
        raise ServiceError(f"PAAS_LOG_INGEST_WORKERS={raw[:20]!r}: a number from 0 to 64 wanted")
    workers = int(raw)
    if (workers or own.get("PAAS_LOG_INGEST_BIND")) and not own.get("PAAS_LOG_INGEST_TOKEN"):
        own["PAAS_LOG_INGEST_TOKEN"] = program_secret(Path(data), "logcenter-ingest")
    base = own.get("PAAS_LOG_CONSUMER") or socket.gethostname()
    return [Program("logs", [str(BIN / "paas-logs")], env=own, cwd=data)] + [
        Program(f"logs-ingest:{n}", [str(BIN / "paas-logs-ingest")], env={**own, "PAAS_LOG_CONSUMER": f"{base}-{n}"},
                cwd=data)
        for n in range(1, workers + 1)]


def build_registry(env: dict) -> tuple[Program, dict] | None:
    """Where PAAS_BUILD_DOCKER_HOST names an engine (and PAAS_BUILD_REGISTRY no registry of the operator's):
    the registry its builds push to (buildpacks/buildregistry.py), on 127.0.0.1:PAAS_BUILD_REGISTRY_PORT
    (54330) with its storage in the data dir, and what the build worker's environment gets to use it. Only
    the build worker holds its password; the registry is given its hash."""
    if not env.get("PAAS_BUILD_DOCKER_HOST", "").strip() or env.get("PAAS_BUILD_REGISTRY", "").strip():
        return None
    from paas.buildpacks import buildregistry

    data = Path(env["PAAS_DATA_DIR"])
    root = Path(env.get("PAAS_BUILD_REGISTRY_DIR", "").strip() or data / "build-registry")
    port = env.get("PAAS_BUILD_REGISTRY_PORT", "54330").strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ServiceError(f"PAAS_BUILD_REGISTRY_PORT={port[:20]!r} is not a port number")
    address = f"127.0.0.1:{int(port)}"
    password = program_secret(data, "build-registry")
    conf = buildregistry.write_config(root, address, password)
    # Not a database or Redis client: no credentials of those.
    own = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    program = Program("build-registry", buildregistry.argv(conf), env=own, cwd=str(data))
    return program, {"PAAS_BUILD_REGISTRY": address, "PAAS_BUILD_REGISTRY_PASSWORD": password,
                     "PAAS_BUILD_REGISTRY_DIR": str(root)}


def program_secret(data: Path, name: str) -> str:
    """A secret of credentials/ that one program is given; a file that cannot be used stops make up naming it."""
    try:
        return credentials.secret(data, name)[0]
    except credentials.CredentialError as error:
        raise ServiceError(str(error)) from None


def stack_builds(env: dict, data: str) -> list[Program]:
    """Debian stacks (PAAS_BUILD_STACKS, default forky: the default stack of new apps) are built once,
    in the background, at first start."""
    wanted = [name for name in os.environ.get("PAAS_BUILD_STACKS", "forky").split(",") if name.strip()]
    stacks_dir = Path(data) / "runtime" / "stacks"
    # debootstrap and the packages' scripts need no database nor Redis: they get no credentials.
    env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return [Program(f"stack:{name}", [str(BIN / "paas-runner"), "stack:build", name.strip()], env=env, cwd=data,
                    oneshot=True)
            for name in wanted if not (stacks_dir / name.strip()).exists()]


def wait_for_api(timeout: float = 90) -> None:
    """"paas is up" means the API answers: uvicorn binds its port only after its imports."""
    address = (os.environ.get("PAAS_API_BIND", "127.0.0.1"), int(os.environ.get("PAAS_API_PORT", "8000")))
    if address[0] in ("0.0.0.0", "::", ""):
        address = ("127.0.0.1" if address[0] != "::" else "::1", address[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(address, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise ServiceError(f"the API did not listen on {address[0]}:{address[1]} within {timeout:g} s (see its output above)")


def banner(env: dict, first_start: str) -> str:
    api = os.environ.get("PAAS_PUBLIC_API_URL") or f"http://127.0.0.1:{os.environ.get('PAAS_API_PORT', '8000')}"
    router_port = os.environ.get("PAAS_ROUTER_PORT", "8080")
    base = os.environ.get("PAAS_BASE_DOMAIN", "localhost")
    lines = [
        "",
        "paas is up.",
        f"  API:      {api}/api/   (OpenAPI: {api}/api/openapi.json)",
        f"  Console:  {api}/console/   (Django's model admin: {api}/admin/)",
        f"  Git:      http://127.0.0.1:{os.environ.get('PAAS_GIT_PORT', '8001')}/<app>.git",
        f"  Apps:     http://<app>.{base}:{router_port}/",
        f"  HTTPS:    https://<app>.{base}:{os.environ.get('PAAS_ROUTER_TLS_PORT', '8443')}/   (CA: paas certs:ca)",
        f"  Data:     {env['PAAS_DATA_DIR']}",
        "",
    ]
    if os.geteuid() != 0:
        lines += ["Not root: no host agent runs here, so apps build but do not start (the runner needs",
                  "namespaces and cgroups). Run make up as root to run apps on this machine.", ""]
    if first_start.strip().startswith("username:"):
        lines += ["First start: an admin account was created. These credentials are shown only now:"]
        lines += ["  " + line for line in first_start.strip().splitlines()]
    else:
        lines += [f"Log in as admin (its token is in {env['PAAS_DATA_DIR']}/admin-token;",
                  "  reset the password with: .venv/bin/paas-admin changepassword admin)"]
    lines += [
        "",
        f"  .venv/bin/paas login --api {api}",
        "",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    return "\n".join(lines)


def migrate(env: dict) -> None:
    """Before any process runs new code: the database schema and static files it expects."""
    admin(env, "migrate", "--no-input", "-v", "0")
    admin(env, "collectstatic", "--no-input", "-v", "0")


def request_upgrade(directory: Path) -> int:
    """``make upgrade``: SIGHUP to the ``make up`` running on ``directory``; 0 when it was sent."""
    path = pid_file(directory)
    try:
        # Our own file, but read as data: not a link, a regular file, a short number.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ValueError
            pid = int(f.read(32).strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            running_up = b"paas.compose.up" in f.read()
    except (OSError, ValueError):
        running_up = False
    if not running_up:
        print(f"paas: no make up is running on {directory}", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGHUP)
    print(f"paas: make up (pid {pid}) is upgrading; its output shows each process as it restarts", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    directory = data_dir()
    if argv == ["--upgrade"]:
        return request_upgrade(directory)
    if argv:
        print("usage: python -m paas.compose.up [--upgrade]", file=sys.stderr)
        return 2
    directory.mkdir(parents=True, exist_ok=True)
    backing = Backing(directory)
    supervisor = Supervisor()
    env = None
    try:
        endpoints = backing.start()
        # The credentials travel by environment only: /proc/<pid>/environ is the owner's,
        # while every user reads every process's command line.
        env = {**os.environ, **endpoints.env("platform"), "PAAS_DATA_DIR": str(directory), "PYTHONSAFEPATH": "1"}
        supervisor.on_crash = crash_reporter(env)
        supervisor.before_upgrade = lambda: migrate(env)
        migrate(env)
        first_start = admin(env, "bootstrap", capture=True)
        for program in programs(env, endpoints):
            supervisor.start(program)
        wait_for_api()
        pid_file(directory).write_text(f"{os.getpid()}\n")
        print(banner(env, first_start), flush=True)
        return supervisor.wait()
    except (ServiceError, SettingError) as error:
        print(f"paas: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"paas: cannot start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop_all()
        if env is not None:
            stop_instances(env)
        backing.stop()
        pid_file(directory).unlink(missing_ok=True)
        print("paas: stopped.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
