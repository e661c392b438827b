"""PostgreSQL and Redis for one machine: use the ones given, or run private ones.

When ``DATABASE_URL`` / ``REDIS_URL`` are given they are used as given: no role is
created and no ACL applied. Otherwise paas runs a PostgreSQL cluster (initdb +
pg_ctl) and a Redis server of its own under the data directory on private ports,
so one command works with nothing configured, and both authenticate every client:

- PostgreSQL: scram-sha-256 for TCP and socket connections (the pg_hba.conf is
  ours, rewritten at every start; no trust line), the superuser ``postgres`` for
  set-up only, and the platform's processes as the role ``paas``, which owns the
  platform's database and nothing more (no SUPERUSER, CREATEDB, CREATEROLE, nor
  the pg_*_server_* roles that reach the host's files and programs). A data
  directory from a ``make up`` of before (trust, everything owned by ``postgres``)
  is upgraded in place at its next start, data kept.
- Redis: ACL users per component (redis_acl.py), the default user off, in a
  config file 0600 so no password is on redis-server's command line.

Passwords are made at first start and kept in ``<data dir>/credentials``
(credentials.py). ``stop()`` leaves nothing running.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

from paas.compose import redis_acl
from paas.compose.credentials import CredentialError, redis_hash, scram_verifier, secret
from paas.contracts import redis_keys

SUPERUSER = "postgres"
#: The role the platform's processes connect as: owner of the platform's database, nothing more.
PLATFORM_ROLE = "paas"
# What the platform role may never be: each of these reaches beyond its own database.
NO_PRIVILEGES = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


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


def postgres_url(user: str, password: str | None, port: int, database: str) -> str:
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"postgres://{auth}@127.0.0.1:{port}/{quote(database, safe='')}"


def redis_url(user: str, password: str, port: int) -> str:
    return f"redis://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}/0"


def write_private(path: Path, text: str) -> None:
    """Write ``path`` mode 0600 through a new file renamed over it (never through a planted link)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)


class PrivatePostgres:
    """A PostgreSQL cluster owned by paas, in ``directory``, listening on 127.0.0.1:``port``.

    Passwords live under ``credentials_root`` (the data directory): ``postgres-superuser``
    and ``postgres-paas``.
    """

    def __init__(self, directory: Path, port: int, credentials_root: Path, database: str = "paas"):
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "run"
        self.log = self.directory / "postgres.log"
        self.port = port
        self.credentials_root = Path(credentials_root)
        self.database = database
        self.bin = postgres_bin_dir()
        # PostgreSQL refuses to run as root: when we are root, it runs as "postgres".
        self.user = "postgres" if os.geteuid() == 0 else None
        self.superuser_password = ""
        self.platform_password = ""

    def url(self, database: str | None = None) -> str:
        """The platform role's URL: what every platform process gets as DATABASE_URL."""
        return postgres_url(PLATFORM_ROLE, self.platform_password, self.port, database or self.database)

    def admin_url(self, database: str | None = None) -> str:
        """The superuser's URL: set-up (and the test suite, which creates databases) only."""
        return postgres_url(SUPERUSER, self.superuser_password, self.port, database or self.database)

    def command(self, *argv) -> list[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return prefix + [str(a) for a in argv]

    def start(self) -> None:
        if reachable("127.0.0.1", self.port):
            raise ServiceError(f"port {self.port} is taken; set PAAS_PG_PORT or DATABASE_URL")
        self.prepare_dirs()
        self.superuser_password, new_superuser_password = secret(self.credentials_root, "postgres-superuser")
        self.platform_password, _ = secret(self.credentials_root, "postgres-paas")
        # Written once the cluster's superuser has the stored password: a start that stopped
        # between making the password and giving it to the cluster does it again next time.
        password_set = self.directory / "superuser-password-set"
        if not (self.data / "PG_VERSION").exists():
            self.initdb()
            password_set.touch()
        elif new_superuser_password or not password_set.exists():
            # A cluster made before passwords (trust for everyone) or whose password file
            # was removed: give the superuser its password while the server is down.
            self.set_superuser_password_offline()
            password_set.touch()
        self.write_hba()
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self.run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")
        self.ensure_platform_role()

    def prepare_dirs(self) -> None:
        for path in (self.directory, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        # The socket directory is the server's alone: nobody else even sees the socket.
        self.socket_dir.chmod(0o700)
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.directory, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if self.data.exists():
                shutil.chown(self.data, entry.pw_uid, entry.pw_gid)

    def initdb(self) -> None:
        # initdb reads the superuser's password from a file, which must be the server
        # user's: it gets the SCRAM verifier, stored as is, so the file holds no password.
        pwfile = self.socket_dir / "initdb-password"
        write_private(pwfile, scram_verifier(self.superuser_password) + "\n")
        try:
            if self.user:
                entry = pwd.getpwnam(self.user)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            self.run(self.bin / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=scram-sha-256",
                     f"--pwfile={pwfile}", "-E", "UTF8", "--no-instructions")
        finally:
            pwfile.unlink(missing_ok=True)

    def set_superuser_password_offline(self) -> None:
        """ALTER ROLE in single-user mode (no server, no connection, so no pg_hba.conf involved)."""
        if (self.data / "postmaster.pid").exists():
            raise ServiceError(f"{self.data} has a postmaster.pid: stop the server that runs on it first")
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_verifier(self.superuser_password)}';\n"
        result = subprocess.run(self.command(self.bin / "postgres", "--single", "-D", self.data, "postgres"),
                                input=statement, capture_output=True, text=True, cwd=self.directory)
        # Single-user mode exits 0 even when the statement failed: look for the error.
        if result.returncode != 0 or "ERROR:" in result.stdout + result.stderr:
            raise ServiceError("postgres --single could not set the superuser's password "
                               f"(status {result.returncode}); see {self.log}")

    def write_hba(self) -> None:
        """Our pg_hba.conf: passwords (scram) for the superuser anywhere and the platform role
        in its own database, over 127.0.0.1 or the socket; anything else matches no line: refused."""
        lines = ["# Written by paas (compose/backing.py) at every start; edits are lost.",
                 "# Every client gives a password (scram-sha-256). No trust, no peer."]
        for database, role in (("all", SUPERUSER), (self.database, PLATFORM_ROLE)):
            lines.append(f"local {database} {role} scram-sha-256")
            lines.append(f"host {database} {role} 127.0.0.1/32 scram-sha-256")
        hba = self.data / "pg_hba.conf"
        write_private(hba, "\n".join(lines) + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(hba, entry.pw_uid, entry.pw_gid)

    def ensure_platform_role(self) -> None:
        """The platform role with its password and no privilege beyond owning its database,
        whatever an older start or a hand left behind."""
        conn = self.connect_as_superuser("postgres")
        role = sql.Identifier(PLATFORM_ROLE)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PLATFORM_ROLE,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
                cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN INHERIT " + NO_PRIVILEGES
                                    + " PASSWORD %s").format(role), (scram_verifier(self.platform_password),))
                # Memberships carry privileges (pg_execute_server_program, pg_read_server_files,
                # pg_write_server_files, pg_read_all_data, ...): the platform role has none.
                cur.execute("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                            "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = %s)", (PLATFORM_ROLE,))
                for (granted,) in cur.fetchall():
                    cur.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), role))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(self.database), role))
                else:
                    cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(self.database), role))
        finally:
            conn.close()
        self.hand_over_objects()

    def hand_over_objects(self) -> None:
        """Give the platform role what an older start made as the superuser (tables, views,
        sequences, schemas), so migrations run as the role. REASSIGN OWNED cannot do it:
        the bootstrap superuser also owns the system catalogs."""
        conn = self.connect_as_superuser(self.database)
        role = sql.Identifier(PLATFORM_ROLE)
        user_schemas = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'")
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE",
                 "S": "SEQUENCE"}
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT n.nspname FROM pg_namespace n WHERE " + user_schemas
                            + " AND n.nspowner NOT IN (SELECT oid FROM pg_roles WHERE rolname IN (%s, %s))",
                            (PLATFORM_ROLE, "pg_database_owner"))
                for (schema,) in cur.fetchall():
                    cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), role))
                # Sequences of serial and identity columns follow their table (pg_depend 'a', 'i').
                cur.execute("SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + user_schemas
                            + " AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
                            " AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %s)"
                            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
                            "  AND d.objid = c.oid AND c.relkind = 'S' AND d.deptype IN ('a', 'i'))"
                            " ORDER BY c.relkind = 'S'", (PLATFORM_ROLE,))
                for schema, name, kind in cur.fetchall():
                    cur.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(
                        sql.SQL(kinds[kind]), sql.Identifier(schema, name), role))
        finally:
            conn.close()

    def connect_as_superuser(self, database: str):
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                                    password=self.superuser_password, dbname=database, connect_timeout=10)
        except psycopg2.OperationalError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
            raise ServiceError(f"cannot connect to the private PostgreSQL as {SUPERUSER}: {first}") from None
        conn.autocommit = True
        return conn

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
    """A Redis server owned by paas, a child process on 127.0.0.1:``port``, keeping nothing on disk.

    Its configuration (ACL users with hashed passwords) is ``<directory>/redis.conf``,
    mode 0600, rewritten at every start; the passwords are ``redis-<component>``
    under ``credentials_root``.
    """

    def __init__(self, directory: Path, port: int, credentials_root: Path, prefix: str = "paas:"):
        self.directory = Path(directory)
        self.port = port
        self.credentials_root = Path(credentials_root)
        self.prefix = prefix
        self.passwords: dict[str, str] = {}
        self.process: subprocess.Popen | None = None

    def url(self, component: str = "platform") -> str:
        """The URL of one component's ACL user (redis_acl.COMPONENTS)."""
        return redis_url(component, self.passwords[component], self.port)

    def config(self) -> str:
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"dir {self.directory}",
            'save ""',
            "appendonly no",
            "daemonize no",
            'logfile ""',
            # Redis 7 defaults, stated: nobody, admin included, reconfigures these at run time.
            "enable-protected-configs no",
            "enable-debug-command no",
            "enable-module-command no",
            "user default reset off",
        ]
        for component, rule in redis_acl.rules(self.prefix).items():
            lines.append(f"user {component} reset on {redis_hash(self.passwords[component])} {rule}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found (apt-get install redis-server)")
        if reachable("127.0.0.1", self.port):
            raise ServiceError(f"port {self.port} is taken; set PAAS_REDIS_PORT or REDIS_URL")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        for component in redis_acl.COMPONENTS:
            self.passwords[component], _ = secret(self.credentials_root, f"redis-{component}")
        conf = self.directory / "redis.conf"
        write_private(conf, self.config())
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(
            [binary, str(conf)], stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True,
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


@dataclass
class Endpoints:
    """Where the platform's processes find PostgreSQL and Redis, each with its own credentials.

    Given URLs are used as given, for every process. Private servers give the
    platform role's DATABASE_URL and a REDIS_URL per component (redis_acl.py); the
    admin URLs are for set-up and the test suite only, never a platform process.
    """

    database_url: str
    admin_database_url: str
    redis_urls: dict[str, str] = field(default_factory=dict)

    def redis_url(self, component: str) -> str:
        return self.redis_urls.get(component) or self.redis_urls["platform"]

    def env(self, component: str = "platform") -> dict:
        """DATABASE_URL and REDIS_URL for one component; the router gets no DATABASE_URL at all."""
        env = {"REDIS_URL": self.redis_url(component)}
        if component != "router":
            env["DATABASE_URL"] = self.database_url
        return env


class Backing:
    """The PostgreSQL and Redis that paas uses, started here when not given."""

    def __init__(self, data_dir: Path, *, prefer_standard_ports: bool = False, database: str = "paas"):
        self.data_dir = Path(data_dir)
        self.prefer_standard = prefer_standard_ports
        self.database = database
        self.postgres: PrivatePostgres | None = None
        self.redis: PrivateRedis | None = None

    def start(self) -> Endpoints:
        """Start what is not given; return the URLs each component uses."""
        try:
            database_url, admin_database_url = self.start_postgres()
            redis_urls = self.start_redis()
        except CredentialError as error:
            self.stop()
            raise ServiceError(str(error)) from None
        except OSError as error:  # a directory or file of the data dir we cannot make or use
            self.stop()
            raise ServiceError(f"{error.filename or 'data dir'}: {error.strerror}") from None
        except BaseException:
            self.stop()
            raise
        return Endpoints(database_url, admin_database_url, redis_urls)

    def start_postgres(self) -> tuple[str, str]:
        given = os.environ.get("DATABASE_URL")
        if given:
            return given, given
        if self.prefer_standard and reachable("127.0.0.1", 5432):
            url = postgres_url(SUPERUSER, None, 5432, self.database)
            ensure_database(url, self.database)
            return url, url
        port = int(os.environ.get("PAAS_PG_PORT", "54320"))
        self.postgres = PrivatePostgres(self.data_dir / "postgres", port, self.data_dir, self.database)
        self.postgres.start()
        return self.postgres.url(), self.postgres.admin_url()

    def start_redis(self) -> dict[str, str]:
        given = os.environ.get("REDIS_URL")
        if given:
            return {component: given for component in redis_acl.COMPONENTS}
        if self.prefer_standard and reachable("127.0.0.1", 6379):
            return {component: "redis://127.0.0.1:6379/0" for component in redis_acl.COMPONENTS}
        port = int(os.environ.get("PAAS_REDIS_PORT", "63790"))
        try:
            prefix = redis_keys.prefix()  # the ACL rules are written for it
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
        self.redis = PrivateRedis(self.data_dir / "redis", port, self.data_dir, prefix)
        self.redis.start()
        return {component: self.redis.url(component) for component in redis_acl.COMPONENTS}

    def stop(self) -> None:
        for service in (self.redis, self.postgres):
            if service is not None:
                service.stop()
