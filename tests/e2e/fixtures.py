"""End-to-end fixtures: every platform process on the test database (loaded by tests/conftest.py)."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from paas.platform.actions.tokens import issue_token
from tests.e2e.platform_procs import (
    Processes,
    database_url,
    free_port,
    start_agent,
    start_build_worker,
    start_control_loop,
    start_git_server,
    start_router,
)
from tests.pki.pebble import Pebble, installed as pebble_installed
from tests.platform.accounts import make_user


@pytest.fixture(scope="session")
def e2e_data_dir():
    path = Path(tempfile.mkdtemp(prefix="paas-e2e-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    if os.environ.get("PAAS_KEEP_E2E") != "1":  # set it to read the processes' logs afterwards
        subprocess.run(["rm", "-rf", str(path)])


@pytest.fixture(scope="session")
def acme_ca(e2e_data_dir):
    """Debian's pebble, the ACME test CA, validating HTTP-01 on the router's plain port (chosen here).

    None where pebble is not installed (the cgroup v2 guest's image, which runs one deploy): the platform
    then runs without automatic certificates, and the tests that need them fail saying so."""
    router_port = free_port()
    if not pebble_installed():
        yield None, router_port
        return
    pebble = Pebble(e2e_data_dir / "pebble", router_port)
    try:
        yield pebble, router_port
    finally:
        pebble.close()


@pytest.fixture(scope="session")
def platform_env(django_db_setup, e2e_data_dir, acme_ca):
    git_port = free_port()
    pebble, router_port = acme_ca
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "PAAS_BUILD_QUEUE": f"builds-e2e-{os.getpid()}",
        "PAAS_BACKUP_QUEUE": f"backups-e2e-{os.getpid()}",
        "PAAS_DATA_DIR": str(e2e_data_dir),
        "PAAS_GIT_PORT": str(git_port),
        "PAAS_BUILD_EXECUTOR": os.environ.get("PAAS_BUILD_EXECUTOR", "container"),
        "PAAS_ROUTER_PORT": str(router_port),
        # Automatic certificates come from pebble (control/acme.py; tests/e2e/test_https.py).
        "PAAS_ACME_DIRECTORY": pebble.directory_url if pebble else "",
        "PAAS_ACME_CA_BUNDLE": pebble.ca_file if pebble else "",
        "PAAS_ROUTER_TLS_PORT": str(free_port()),
        # paas.localhost: git paths to this run's git receiver (from PAAS_GIT_PORT); the API here is the
        # test process's live_server, which the router cannot know: not routed.
        "PAAS_ROUTER_PLATFORM_API": "off",
        "PAAS_HOST_NAME": f"e2e-host-{os.getpid()}",
        "PAAS_HOST_ADDRESS": "127.0.0.1",
        "PAAS_STOP_GRACE": "3",
        "PAAS_START_TIMEOUT_S": "30",
        "PAAS_MAX_PUSH_BYTES": str(20 * 1024 * 1024),
        # Keys of its own: another run's control loop would otherwise prune this run's routes.
        "PAAS_REDIS_PREFIX": f"e2e{os.getpid()}:",
        "PAAS_SCALE_TO_ZERO_IDLE_S": "3",
        "PAAS_HOST_DOWN_AFTER_S": "6",
        "PAAS_ROUTER_METRICS_INTERVAL": "1",
        "PYTHONSAFEPATH": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # The runtime tests point these at their own sandbox for the whole session: the
    # platform's processes here use the runtime's defaults under this run's data dir.
    for name in ("PAAS_RUNTIME_DIR", "PAAS_CGROUP_PARENT", "PAAS_BRIDGE", "PAAS_ADDRESS_POOL"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="session")
def git_platform(platform_env, e2e_data_dir):
    """Every platform process on the test database: git, builds, control loop, agent, router."""
    procs = Processes(platform_env, e2e_data_dir)
    try:
        start_git_server(procs, int(platform_env["PAAS_GIT_PORT"]))
        start_build_worker(procs)
        start_control_loop(procs)
        start_agent(procs)
        start_router(procs, int(platform_env["PAAS_ROUTER_PORT"]))
        yield procs
    finally:
        # Tests end with an empty database, so the agent stops every instance; wait for that.
        wait_for_no_instances(e2e_data_dir / "runtime" / "instances")
        procs.stop()
        sweep_leftovers(platform_env)


def wait_for_no_instances(directory: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and directory.is_dir() and any(directory.iterdir()):
        time.sleep(0.2)


def sweep_leftovers(env: dict) -> None:
    subprocess.run([str(Path(sys.executable).with_name("paas-runner")), "sweep"], env=env, capture_output=True,
                   timeout=60)


@pytest.fixture
def agent_host(transactional_db, platform_env, settings):
    """The agent's host row: the database is emptied between tests, the agent keeps running."""
    from django.utils import timezone

    from paas.platform.models import Host

    settings.PAAS_REDIS_PREFIX = platform_env["PAAS_REDIS_PREFIX"]
    return Host.objects.update_or_create(name=platform_env["PAAS_HOST_NAME"], defaults={
        "address": "127.0.0.1", "memory_mb": 8192, "cpus": 2, "last_heartbeat": timezone.now()})[0]


@pytest.fixture
def pusher(transactional_db, git_platform, platform_env, tmp_path, settings):
    """A user with a token, a HOME whose .netrc holds it, and helpers to push with real git."""
    settings.PAAS_REDIS_PREFIX = platform_env["PAAS_REDIS_PREFIX"]
    user = make_user("pusher")
    _, secret = issue_token(user)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine 127.0.0.1 login pusher password {secret}\n")
    (home / ".netrc").chmod(0o600)
    return GitUser(user, secret, home, f"http://127.0.0.1:{platform_env['PAAS_GIT_PORT']}", git_platform)


class GitUser:
    def __init__(self, user, token, home, git_url, procs):
        self.user, self.token, self.home, self.git_url, self.procs = user, token, home, git_url, procs

    def env(self):
        return {"HOME": str(self.home), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(self, repo: Path, *args, check=True, timeout=600):
        result = subprocess.run(["git", *args], cwd=repo, env=self.env(), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def repo(self, path: Path, files: dict[str, str], app: str) -> Path:
        path.mkdir(parents=True)
        self.git(path, "init", "-q", "-b", "main")
        write_files(path, files)
        self.git(path, "add", "-A")
        self.git(path, "commit", "-q", "-m", "first")
        self.git(path, "remote", "add", "paas", f"{self.git_url}/{app}.git")
        return path

    def push(self, repo: Path, *refspec, check=False):
        return self.git(repo, "push", "paas", *(refspec or ("main",)), check=check)


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if text.startswith("#!"):
            target.chmod(0o755)


@pytest.fixture(scope="session", autouse=True)
def flush_retries_deadlocks():
    """Between tests the database is emptied with TRUNCATE while the platform's processes keep
    running; PostgreSQL may pick the TRUNCATE as a deadlock victim. Retrying it is safe."""
    from django.core.management.base import CommandError
    from django.core.management.commands import flush
    from django.db import OperationalError

    original = flush.Command.handle

    def handle(self, **options):
        for attempt in range(10):
            try:
                return original(self, **options)
            except (OperationalError, CommandError) as error:
                if "deadlock" not in f"{error} {error.__cause__}" or attempt == 9:
                    raise
                time.sleep(0.2)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original
