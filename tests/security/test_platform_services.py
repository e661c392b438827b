"""The platform's own PostgreSQL and Redis (make up's private servers) refuse anyone without
credentials, and hold each platform process to what its job needs.

Whoever reaches 127.0.0.1 (a build on the host network, any local user) tries what the
tenant-boundary issue did: connect as superuser without a password, run host programs
with COPY ... FROM PROGRAM, read server files, read the route table from Redis.
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import redis

from paas.compose.credentials import CredentialError, read_secret, secret
from paas.compose.backing import PLATFORM_ROLE, PrivatePostgres
from tests.compose.private import free_port, new_data_dir, old_trust_cluster, private_services

PREFIX = "paas:"


@pytest.fixture(scope="module")
def services():
    with private_services(PREFIX) as found:
        yield found


def connect(services, user: str, password: str | None, database: str = "paas", host: str = "127.0.0.1"):
    kwargs = {"password": password} if password is not None else {}
    return psycopg2.connect(host=host, port=services.postgres.port, user=user, dbname=database,
                            connect_timeout=10, **kwargs)


def refused(services, user, password, database="paas", host="127.0.0.1") -> str:
    # PGPASSWORD or a ~/.pgpass of the test runner must not stand in for the missing password.
    env_backup = {k: os.environ.pop(k) for k in ("PGPASSWORD", "PGPASSFILE") if k in os.environ}
    os.environ["PGPASSFILE"] = "/dev/null"
    try:
        with pytest.raises(psycopg2.OperationalError) as error:
            connect(services, user, password, database, host).close()
    finally:
        os.environ.pop("PGPASSFILE")
        os.environ.update(env_backup)
    return str(error.value)


def platform_cursor(services):
    conn = connect(services, PLATFORM_ROLE, services.postgres.platform_password)
    conn.autocommit = True
    return conn, conn.cursor()


# -- PostgreSQL ---------------------------------------------------------------


@pytest.mark.parametrize("user", ["postgres", PLATFORM_ROLE])
def test_postgres_refuses_no_password_over_tcp_and_socket(services, user):
    assert "password" in refused(services, user, None)
    assert "password" in refused(services, user, None, host=str(services.postgres.socket_dir))


@pytest.mark.parametrize("user", ["postgres", PLATFORM_ROLE])
def test_postgres_refuses_a_wrong_password(services, user):
    assert "password authentication failed" in refused(services, user, "wrong-password")


def test_platform_password_does_not_open_the_superuser(services):
    assert "password authentication failed" in refused(services, "postgres", services.postgres.platform_password)


def test_platform_role_reaches_only_its_own_database(services):
    message = refused(services, PLATFORM_ROLE, services.postgres.platform_password, database="postgres")
    assert "no pg_hba.conf entry" in message
    conn, cur = platform_cursor(services)
    try:
        cur.execute("SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'paas'")
        assert cur.fetchone() == (PLATFORM_ROLE, PLATFORM_ROLE)
        # Owning the database is what migrations need.
        cur.execute("CREATE TABLE owned_here (id int)")
        cur.execute("DROP TABLE owned_here")
    finally:
        conn.close()


def test_platform_role_has_no_privilege_beyond_its_database(services):
    conn, cur = platform_cursor(services)
    try:
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user")
        assert cur.fetchone() == (False, False, False, False, False)
        for role in ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files",
                     "pg_read_all_data", "pg_write_all_data"):
            cur.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", (role,))
            assert cur.fetchone() == (False,), role
    finally:
        conn.close()


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/paas-pwned'",
    "CREATE TEMP TABLE t (line text); COPY t FROM PROGRAM 'id'",
    "CREATE TEMP TABLE t (line text); COPY t FROM '/etc/passwd'",
    "COPY (SELECT 1) TO '/tmp/paas-pwned'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_ls_dir('/')",
    "SELECT lo_import('/etc/passwd')",
    "CREATE ROLE intruder LOGIN SUPERUSER",
    "CREATE ROLE intruder LOGIN",
    "CREATE DATABASE intruder",
    "ALTER ROLE paas SUPERUSER",
    "ALTER ROLE paas CREATEROLE",
    "GRANT pg_execute_server_program TO paas",
    "SET ROLE postgres",
    "CREATE EXTENSION file_fdw",
    "ALTER SYSTEM SET listen_addresses = '*'",
])
def test_platform_role_cannot_reach_the_host_or_other_roles(services, statement):
    conn, cur = platform_cursor(services)
    try:
        with pytest.raises(psycopg2.Error) as error:
            cur.execute(statement)
        assert error.value.pgcode in ("42501", "0A000", "58P01"), (error.value.pgcode, str(error.value))
    finally:
        conn.close()
    assert not Path("/tmp/paas-pwned").exists()


def hba_methods(postgres: PrivatePostgres) -> set[str]:
    """The authentication method of every rule in the cluster's pg_hba.conf."""
    hba = (postgres.data / "pg_hba.conf").read_text()
    return {line.split()[-1] for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def test_hba_is_ours_and_has_only_passwords(services):
    assert hba_methods(services.postgres) == {"scram-sha-256"}


# -- Redis --------------------------------------------------------------------


def raw_redis(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(4096)


def test_redis_without_credentials_answers_noauth(services):
    port = services.redis.port
    for command in (b"PING\r\n", b"HGETALL paas:router:hosts\r\n", b"CONFIG GET *\r\n", b"KEYS *\r\n"):
        assert raw_redis(port, command).startswith(b"-NOAUTH"), command


def test_redis_refuses_wrong_passwords_and_the_default_user(services):
    port = services.redis.port
    router_password = services.redis.passwords["router"]
    assert raw_redis(port, b"AUTH wrong-password\r\n").startswith(b"-WRONGPASS")
    # The default user is off: even a real password does not open it.
    assert raw_redis(port, f"AUTH default {router_password}\r\n".encode()).startswith(b"-WRONGPASS")
    assert raw_redis(port, f"AUTH admin {router_password}\r\n".encode()).startswith(b"-WRONGPASS")
    assert raw_redis(port, f"AUTH router {router_password}\r\n".encode()) == b"+OK\r\n"


def denied(client: redis.Redis, *command) -> None:
    """``command`` refused by the ACL, or by the server for everyone (DEBUG and MODULE are off)."""
    with pytest.raises(redis.exceptions.ResponseError) as error:
        client.execute_command(*command)
    assert isinstance(error.value, redis.exceptions.NoPermissionError) or "command not allowed" in str(error.value)


@pytest.mark.parametrize("command", [
    ("HGETALL", "paas:logs:offsets"),
    ("HSET", "paas:tls:certs", "bank.example", "{}"),   # serve its own certificate for a domain
    ("DEL", "paas:tls:certs"),
    ("HSET", "paas:acme:challenges", "bank.example tok", "x"),  # answer a CA's challenge for a domain
    ("HGETALL", "paas:acme:challenges"),              # one answer per request, never the list
    ("HSET", "paas:router:hosts", "evil.example", "victim"),  # route another app's traffic
    ("SET", "paas:router:app:victim", "{}"),
    ("DEL", "paas:router:hosts"),
    ("XRANGE", "paas:logs:victim", "-", "+"),         # read any app's logs
    ("XREAD", "STREAMS", "paas:run:victim:in", "0"),  # read a one-off's input
    ("HGET", "paas:logs:offsets", "x"),
    ("LPUSH", "builds", "{}"),                        # inject a Celery task
    ("GET", "celery-task-meta-x"),
    ("GET", "paas:login:admin"),
    ("PUBLISH", "paas:agent:wake", "1"),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "dir", "/tmp"),
    ("KEYS", "*"),
    ("FLUSHALL",),
    ("EVAL", "return 1", "0"),
    ("ACL", "LIST"),
    ("MONITOR",),
    ("SHUTDOWN", "NOSAVE"),
])
def test_router_user_is_held_to_routes_logs_and_metrics(services, command):
    denied(services.redis_client("router"), *command)


def test_router_appends_to_and_trims_app_logs_and_reads_none(services):
    router = services.redis_client("router")
    try:
        router.xadd("paas:logs:demo", {"source": "router", "line": "x"})
        router.xtrim("paas:logs:demo", maxlen=10000, approximate=True)
        assert services.redis_client("platform").xlen("paas:logs:demo") == 1
        denied(router, "XRANGE", "paas:logs:demo", "-", "+")
        denied(router, "XTRIM", "paas:router:hosts", "MAXLEN", "0")
    finally:
        services.redis_client("platform").delete("paas:logs:demo")


def test_uploaded_private_keys_are_read_by_the_router_alone(services):
    services.redis_client("platform").hset("paas:tls:certs", "www.example.com", "{}")
    try:
        assert services.redis_client("router").hgetall("paas:tls:certs") == {b"www.example.com": b"{}"}
        denied(services.redis_client("logcenter"), "HGETALL", "paas:tls:certs")
        denied(services.redis_client("agent"), "HGETALL", "paas:tls:certs")
    finally:
        services.redis_client("platform").delete("paas:tls:certs")


def test_acme_challenges_are_written_by_platform_control_and_read_by_the_router(services):
    services.redis_client("platform").hset("paas:acme:challenges", "www.example.com tok", "tok.thumb")
    try:
        assert services.redis_client("router").hget("paas:acme:challenges", "www.example.com tok") == b"tok.thumb"
        denied(services.redis_client("agent"), "HGET", "paas:acme:challenges", "www.example.com tok")
        denied(services.redis_client("agent"), "HSET", "paas:acme:challenges", "www.example.com tok", "x")
        denied(services.redis_client("logcenter"), "HGET", "paas:acme:challenges", "www.example.com tok")
    finally:
        services.redis_client("platform").delete("paas:acme:challenges")


@pytest.mark.parametrize("command", [
    ("HGETALL", "paas:router:hosts"),
    ("HSET", "paas:router:hosts", "evil.example", "victim"),
    ("GET", "paas:router:app:victim"),
    ("SET", "paas:router:app:victim", "{}"),
    ("PUBLISH", "paas:router:changes", "*"),
    ("XRANGE", "paas:logs:victim", "-", "+"),         # it appends logs, it does not read them
    ("HSET", "paas:router:metrics:victim", "n", "{}"),
    ("LPUSH", "builds", "{}"),
    ("GET", "paas:login:admin"),
    ("CONFIG", "GET", "*"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("FLUSHDB",),
    ("DEBUG", "SLEEP", "0"),
    ("EVAL", "return 1", "0"),
    ("GET", "paas:agent:pressure:other-host"),        # it says its host is short of memory, nothing more
    ("DEL", "paas:agent:pressure:other-host"),
    ("SET", "paas:autoscale:idle-since:victim", "0"),  # it cannot make an app look idle
    ("HGETALL", "paas:tls:certs"),                    # uploaded private keys: the router's alone
    ("HGET", "paas:tls:certs", "www.example.com"),
])
def test_agent_user_is_held_to_logs_runs_and_wake_channels(services, command):
    denied(services.redis_client("agent"), *command)


@pytest.mark.parametrize("command", [
    ("CONFIG", "GET", "*"), ("CONFIG", "SET", "dir", "/tmp"), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST"),
    ("KEYS", "*"), ("FLUSHALL",), ("FLUSHDB",), ("SHUTDOWN", "NOSAVE"), ("ACL", "LIST"),
    ("ACL", "SETUSER", "intruder", "on", ">x", "+@all", "~*"), ("MONITOR",), ("SAVE",), ("REPLICAOF", "NO", "ONE"),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "10"), ("CLIENT", "LIST"), ("INFO",),
])
def test_platform_user_cannot_run_dangerous_commands(services, command):
    denied(services.redis_client("platform"), *command)


def test_admin_alone_can_administer_redis(services):
    assert services.redis_client("admin").execute_command("ACL", "WHOAMI") == b"admin"
    # The ACLs of the others are what redis_acl.py says, not the default user's.
    users = {line.split()[1].decode() for line in services.redis_client("admin").execute_command("ACL", "LIST")}
    assert users == {"default", "admin", "platform", "router", "agent", "logcenter"}


def test_redis_config_holds_hashes_not_passwords(services):
    conf = services.redis.directory / "redis.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    text = conf.read_text()
    for password in services.passwords().values():
        assert password not in text
    assert "protected-mode yes" in text and "bind 127.0.0.1" in text


# -- credentials at rest and in flight ----------------------------------------


def test_credential_files_are_0600_in_a_0700_directory(services):
    directory = services.data_dir / "credentials"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(path.name for path in directory.iterdir())
    assert names == ["postgres-paas", "postgres-superuser", "redis-admin", "redis-agent", "redis-logcenter",
                     "redis-platform", "redis-router"]
    for path in directory.iterdir():
        info = path.lstat()
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, path
    assert len(set(services.passwords().values())) == len(names), "a password is shared"


def test_no_password_in_any_command_line(services):
    passwords = services.passwords().values()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        for password in passwords:
            assert password not in cmdline, f"process {proc.name} shows a password in its command line"


def test_planted_or_loose_credential_files_are_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("s3cr3t-content\n")
    target.chmod(0o600)
    link = tmp_path / "linked"
    link.symlink_to(target)
    with pytest.raises(CredentialError) as error:
        read_secret(link)
    assert "s3cr3t" not in str(error.value)
    loose = tmp_path / "loose"
    loose.write_text("loose-password\n")
    loose.chmod(0o644)
    with pytest.raises(CredentialError, match="0600"):
        read_secret(loose)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(CredentialError, match="not a regular file"):
        read_secret(fifo)
    garbage = tmp_path / "garbage"
    garbage.write_text("$(touch /tmp/x)\n")
    garbage.chmod(0o600)
    with pytest.raises(CredentialError) as error:
        read_secret(garbage)
    assert "touch" not in str(error.value)


def test_a_linked_credentials_directory_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "credentials").symlink_to(elsewhere)
    postgres = PrivatePostgres(data / "postgres", free_port(), data)
    with pytest.raises(CredentialError, match="not a directory"):
        postgres.start()
    assert list(elsewhere.iterdir()) == []


def test_make_up_stops_with_one_line_on_a_planted_credentials_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = new_data_dir()
    try:
        (data / "credentials").symlink_to(elsewhere)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        env.update(PAAS_DATA_DIR=str(data), PAAS_PG_PORT=str(free_port()), PAAS_REDIS_PORT=str(free_port()))
        result = subprocess.run([sys.executable, "-P", "-m", "paas.compose.up"], env=env, capture_output=True,
                                text=True, timeout=120, cwd=data)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "paas: " in result.stderr and "credentials is not a directory" in result.stderr
        assert list(elsewhere.iterdir()) == []
        assert not (data / "postgres" / "data").exists()
    finally:
        shutil.rmtree(data, ignore_errors=True)


# -- an older make up's data directory ---------------------------------------


def test_an_old_trust_data_dir_is_upgraded_in_place():
    data_dir = new_data_dir()
    with old_trust_cluster(data_dir, free_port()) as psql:
        psql("CREATE TABLE app (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text);"
             "CREATE TABLE legacy (id serial PRIMARY KEY, note text);"
             "CREATE VIEW app_names AS SELECT name FROM app;"
             "INSERT INTO app (name) VALUES ('kept');", database="paas")
    try:
        with private_services(PREFIX, data_dir=data_dir) as services:
            assert "password" in refused(services, "postgres", None)
            assert hba_methods(services.postgres) == {"scram-sha-256"}
            conn, cur = platform_cursor(services)
            try:
                cur.execute("SELECT name FROM app")
                assert cur.fetchall() == [("kept",)]
                cur.execute("SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                            "AND c.relkind IN ('r', 'v', 'S') ORDER BY 1")
                owners = dict(cur.fetchall())
                assert set(owners) == {"app", "app_id_seq", "app_names", "legacy", "legacy_id_seq"}
                assert set(owners.values()) == {PLATFORM_ROLE}
                # What a migration does: write through the identity and serial sequences, alter, drop.
                cur.execute("INSERT INTO app (name) VALUES ('new') RETURNING id")
                assert cur.fetchone() == (2,)
                cur.execute("INSERT INTO legacy (note) VALUES ('x')")
                cur.execute("ALTER TABLE app ADD COLUMN added int")
                cur.execute("DROP VIEW app_names")
            finally:
                conn.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_restart_keeps_passwords_and_data():
    data_dir = new_data_dir()
    try:
        with private_services(PREFIX, data_dir=data_dir) as services:
            first = services.passwords()
            conn, cur = platform_cursor(services)
            cur.execute("CREATE TABLE survives (id int)")
            conn.close()
        with private_services(PREFIX, data_dir=data_dir) as services:
            assert services.passwords() == first
            conn, cur = platform_cursor(services)
            cur.execute("SELECT count(*) FROM survives")
            assert cur.fetchone() == (0,)
            conn.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_an_upgrade_interrupted_after_making_the_password_completes_next_time():
    data_dir = new_data_dir()
    with old_trust_cluster(data_dir, free_port()):
        pass
    secret(data_dir, "postgres-superuser")  # made, then the start died before the cluster got it
    try:
        with private_services(PREFIX, data_dir=data_dir) as services:
            assert "password" in refused(services, "postgres", None)
            conn, cur = platform_cursor(services)
            conn.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
