"""pg_dump, the scratch-server verification and pg_restore: the side effects of backups.

Dumps are taken on the platform's host, over the superuser's connection to the
server's own address, in one snapshot that the table and row counts are read
from too, so "the backup holds what the database held" is a comparison of two
exact numbers per table. The dump is tenant data: it is verified inside a
container of the platform's runner (no network, the add-on's uid, a scratch
PostgreSQL on the dump's own directory), and only a bounded JSON line comes
back out of it.
"""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from paas.services import catalog

MAX_COUNTS_BYTES = 1 << 20
VERIFY_MEMORY = 512 << 20

# One JSON object: "schema"."table" -> exact row count; the same query on both sides.
COUNTS_SQL = """SELECT coalesce(json_object_agg(t.name, t.n ORDER BY t.name), '{}')::text FROM (
  SELECT format('%I.%I', table_schema, table_name) AS name,
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                                                     table_schema, table_name), false, true, '')))[1]::text::bigint AS n
  FROM information_schema.tables
  WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')) t"""

VERIFY = r"""set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
"$PGBIN/initdb" -D /app/db -U postgres -A trust -E UTF8 --locale=C >/dev/null
"$PGBIN/pg_ctl" -D /app/db -w -l /app/server.log -o "-c listen_addresses= -c unix_socket_directories=/tmp \
  -c dynamic_shared_memory_type=mmap -c fsync=off -c shared_buffers=32MB" start >/dev/null
"$PGBIN/createdb" -h /tmp -U postgres scratch
"$PGBIN/pg_restore" -h /tmp -U postgres -d scratch --no-owner --no-privileges --exit-on-error /app/backup.dump >&2
"$PGBIN/psql" -h /tmp -U postgres -d scratch -X -A -t -v ON_ERROR_STOP=1 -c "$COUNTS_SQL"
"$PGBIN/pg_ctl" -D /app/db -m fast stop >/dev/null
"""


class BackupError(Exception):
    """A dump, a verification or a restore that did not succeed; its message says which and why."""


def _conninfo(addon) -> tuple[str, dict]:
    port = catalog.service("postgres").port
    info = f"host={addon.address} port={port} user=postgres dbname={addon.credentials['database']} connect_timeout=5"
    # The password through the environment, never on a command line (ps shows those).
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": addon.credentials["superuser_password"], "LC_ALL": "C"}
    return info, env


def _tool(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(found[-1]) if found else name


def dump(addon, path: Path) -> dict:
    """pg_dump -Fc of the add-on's database into `path` (0600); the table -> rows counts of its snapshot."""
    import psycopg2

    info, env = _conninfo(addon)
    try:
        connection = psycopg2.connect(info, password=env["PGPASSWORD"])
    except psycopg2.Error as error:
        raise BackupError(f"cannot reach {addon.name}: {str(error).strip()[:200]}") from None
    try:
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            cursor.execute(COUNTS_SQL)
            counts = json.loads(cursor.fetchone()[0])
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            os.close(fd)
            result = subprocess.run([_tool("pg_dump"), "-Fc", f"--snapshot={snapshot}", "-f", str(path), info],
                                    env=env, capture_output=True, text=True, timeout=3600, check=False)
            if result.returncode != 0:
                raise BackupError(f"pg_dump failed: {result.stderr.strip()[:300]}")
    finally:
        connection.close()
    return counts


def verify(path: Path, expected: dict, uid: int, scratch_root: Path) -> None:
    """Restore `path` into a scratch server in a container and compare its counts; BackupError if they differ."""
    from paas.runtime import container, identity, stacks
    from paas.runtime.spec import ContainerSpec, Limits, Mount

    scratch_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="verify-", dir=scratch_root))
    try:
        shutil.copyfile(path, work / "backup.dump", follow_symlinks=False)
        identity.hand_over(work, uid)
        stack = stacks.get("host")
        spec = ContainerSpec(
            command=("/bin/sh", "-c", VERIFY), layers=stack.layers,
            binds=(*stack.binds, Mount(work, "/app", readonly=False)), env=(("COUNTS_SQL", COUNTS_SQL),),
            workdir="/app", user=f"{uid}:{uid}", user_name="addon", network="none",
            limits=Limits(memory=VERIFY_MEMORY, pids=128), id=f"verify-{secrets.token_hex(5)}")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            outcome = container.run(spec, stdout=out, stderr=err)
            out.seek(0)
            err.seek(0)
            text, errors = out.read(MAX_COUNTS_BYTES + 1), err.read(4096).decode(errors="replace")
        if outcome.exit_code != 0:
            raise BackupError(f"the scratch restore failed (exit {outcome.exit_code}): {errors.strip()[-300:]}")
        compare(expected, parse_counts(text))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_counts(text: bytes) -> dict:
    """The scratch server's one JSON line: an object of table -> non-negative integer, bounded."""
    if len(text) > MAX_COUNTS_BYTES:
        raise BackupError("the scratch server's table counts are over 1 MB")
    try:
        counts = json.loads(text.decode().strip() or "{}")
    except (UnicodeDecodeError, ValueError):
        raise BackupError("the scratch server's table counts are not JSON") from None
    if not isinstance(counts, dict) or not all(isinstance(k, str) and isinstance(v, int) and v >= 0
                                               for k, v in counts.items()):
        raise BackupError("the scratch server's table counts are not table -> rows")
    return counts


def compare(expected: dict, found: dict) -> None:
    """Plain code: the same tables with the same rows, or a message naming the first differences."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    differ = sorted(t for t in set(expected) & set(found) if expected[t] != found[t])
    problems = ([f"missing tables: {', '.join(missing[:5])}"] if missing else []) + \
        ([f"unexpected tables: {', '.join(extra[:5])}"] if extra else []) + \
        [f"{t}: {found[t]} rows, expected {expected[t]}" for t in differ[:5]]
    if problems:
        raise BackupError("verification failed: " + "; ".join(problems))


def restore(addon, path: Path) -> None:
    """pg_restore into the add-on's database, replacing what is there, owned by the app's role."""
    info, env = _conninfo(addon)
    result = subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
                             f"--role={addon.credentials.get('owner', addon.credentials['user'])}", "--single-transaction", "--exit-on-error",
                             "-d", info, str(path)], env=env, capture_output=True, text=True, timeout=3600,
                            check=False)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[:300]}")
