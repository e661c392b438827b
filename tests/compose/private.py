"""Private PostgreSQL and Redis of make up's own making, in a throwaway data directory.

Started directly (not through Backing), so they are private whatever DATABASE_URL and
REDIS_URL the test run itself uses.
"""

import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from paas.compose.backing import PrivatePostgres, PrivateRedis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_data_dir() -> Path:
    # PostgreSQL runs as the postgres user when we are root: it must be able to enter the directory.
    path = Path(tempfile.mkdtemp(prefix="paas-services-", dir="/tmp"))
    path.chmod(0o755)
    return path


@dataclass
class Services:
    data_dir: Path
    postgres: PrivatePostgres
    redis: PrivateRedis

    def redis_client(self, component: str) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url(component), socket_timeout=10)

    def passwords(self) -> dict[str, str]:
        """Every password in the credentials directory, by file name."""
        return {path.name: path.read_text().strip() for path in (self.data_dir / "credentials").iterdir()}


@contextmanager
def private_services(prefix: str = "paas:", data_dir: Path | None = None):
    """Start both servers under ``data_dir``; stop them after, and remove the directory if it was made here."""
    made_here = data_dir is None
    data_dir = data_dir or new_data_dir()
    postgres = PrivatePostgres(data_dir / "postgres", free_port(), data_dir)
    private_redis = PrivateRedis(data_dir / "redis", free_port(), data_dir, prefix)
    try:
        postgres.start()
        private_redis.start()
        yield Services(data_dir, postgres, private_redis)
    finally:
        private_redis.stop()
        postgres.stop()
        if made_here:
            subprocess.run(["rm", "-rf", str(data_dir)])


@contextmanager
def old_trust_cluster(data_dir: Path, port: int):
    """A cluster as make up made it before passwords (initdb --auth=trust, everything the
    superuser's), running on ``port`` until the block ends; yields a psql runner."""
    postgres = PrivatePostgres(data_dir / "postgres", port, data_dir)
    postgres.prepare_dirs()
    postgres.run(postgres.bin / "initdb", "-D", postgres.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-instructions")
    options = f"-p {port} -k {postgres.socket_dir} -c listen_addresses=127.0.0.1"
    postgres.run(postgres.bin / "pg_ctl", "-D", postgres.data, "-l", postgres.log, "-o", options, "-w", "start")

    def psql(script: str, database: str = "postgres") -> None:
        result = subprocess.run(postgres.command(postgres.bin / "psql", "-v", "ON_ERROR_STOP=1",
                                                 "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                                 "-d", database),
                                input=script, capture_output=True, text=True, cwd=postgres.directory)
        assert result.returncode == 0, result.stderr

    try:
        psql("CREATE DATABASE paas;")
        yield psql
    finally:
        postgres.stop()
