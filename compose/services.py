"""PostgreSQL and Redis for one machine: use the ones given, or run private ones.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, paas runs a PostgreSQL cluster
(initdb + pg_ctl) and a Redis server of its own under the data directory on
private ports, so one command works with nothing configured. ``stop()`` leaves
nothing running.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql


class ServiceError(Exception):
    """A backing service could not be started; the message says which and why."""


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not become ready within {timeout:.0f}s")
        time.sleep(0.1)


def postgres_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise ServiceError("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    return Path(candidates[-1]).parent


class PrivatePostgres:
    """A PostgreSQL cluster owned by paas, in ``directory``, listening on 127.0.0.1:``port``."""

    def __init__(self, directory: Path, port: int):
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "run"
        self.log = self.directory / "postgres.log"
        self.port = port
        self.bin = postgres_bin_dir()
        # PostgreSQL refuses to run as root: when we are root, it runs as "postgres".
        self.user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def command(self, *argv) -> list[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return prefix + [str(a) for a in argv]

    def start(self) -> None:
        if reachable("127.0.0.1", self.port):
            raise ServiceError(f"port {self.port} is taken; set PAAS_PG_PORT or DATABASE_URL")
        self.prepare_dirs()
        if not (self.data / "PG_VERSION").exists():
            self.run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self.run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")

    def prepare_dirs(self) -> None:
        for path in (self.directory, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.directory, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if self.data.exists():
                shutil.chown(self.data, entry.pw_uid, entry.pw_gid)

    def run(self, *argv) -> None:
        result = subprocess.run(self.command(*argv), capture_output=True, text=True, cwd=self.directory)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ServiceError(f"{Path(str(argv[0])).name} failed: {' '.join(detail)} (log: {self.log})")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self.command(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"),
                           capture_output=True, cwd=self.directory)


def ensure_database(url_template: str, name: str) -> None:
    """Create database ``name`` on the server behind ``url_template`` if it is missing."""
    conn = psycopg2.connect(url_template.rsplit("/", 1)[0] + "/postgres", connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


class PrivateRedis:
    """A Redis server owned by paas, a child process on 127.0.0.1:``port``, keeping nothing on disk."""

    def __init__(self, directory: Path, port: int):
        self.directory = Path(directory)
        self.port = port
        self.process: subprocess.Popen | None = None

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found (apt-get install redis-server)")
        if reachable("127.0.0.1", self.port):
            raise ServiceError(f"port {self.port} is taken; set PAAS_REDIS_PORT or REDIS_URL")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True,
        )
        log.close()
        wait_until(lambda: reachable("127.0.0.1", self.port) or self.process.poll() is not None, "redis-server")
        if self.process.poll() is not None:
            raise ServiceError(f"redis-server exited at start; see {self.directory / 'redis.log'}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Backing:
    """The PostgreSQL and Redis that paas uses, started here when not given."""

    def __init__(self, data_dir: Path, *, prefer_standard_ports: bool = False, database: str = "paas"):
        self.data_dir = Path(data_dir)
        self.prefer_standard = prefer_standard_ports
        self.database = database
        self.postgres: PrivatePostgres | None = None
        self.redis: PrivateRedis | None = None

    def start(self) -> dict:
        """Return the environment (DATABASE_URL, REDIS_URL) that points at what runs."""
        env = {}
        try:
            env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or self.start_postgres()
            env["REDIS_URL"] = os.environ.get("REDIS_URL") or self.start_redis()
        except BaseException:
            self.stop()
            raise
        return env

    def start_postgres(self) -> str:
        if self.prefer_standard and reachable("127.0.0.1", 5432):
            url = f"postgres://postgres@127.0.0.1:5432/{self.database}"
        else:
            self.postgres = PrivatePostgres(self.data_dir / "postgres", int(os.environ.get("PAAS_PG_PORT", "54320")))
            self.postgres.start()
            url = self.postgres.url(self.database)
        ensure_database(url, self.database)
        return url

    def start_redis(self) -> str:
        if self.prefer_standard and reachable("127.0.0.1", 6379):
            return "redis://127.0.0.1:6379/0"
        self.redis = PrivateRedis(self.data_dir / "redis", int(os.environ.get("PAAS_REDIS_PORT", "63790")))
        self.redis.start()
        return self.redis.url()

    def stop(self) -> None:
        for service in (self.redis, self.postgres):
            if service is not None:
                service.stop()
