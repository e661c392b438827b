"""pg_dump, the scratch-server verification and pg_restore: the side effects of backups.

Dumps are taken over the superuser's connection to the server's own address,
in one snapshot that the table and row counts are read from too, so "the
backup holds what the database held" is a comparison of two exact numbers per
table. pg_dump, pg_restore and the scratch server are the add-on's own
version: each runs in a container of the runner on the add-on's stack (with
its server packages, services/serverpackages.py) as the add-on's uid; pg_dump
and pg_restore in the host's network (they reach the server's address as the
platform does), the scratch server in none. The dump is tenant data: only a
bounded JSON line comes back out of the verification, and the dump file is
taken only as a regular file.
"""

import contextlib
import json
import os
import secrets
import shutil
import stat
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

PGBIN = 'PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)\n'
DUMP = "set -eu\n" + PGBIN + \
    '"$PGBIN/pg_dump" -Fc --snapshot="$PAAS_SNAPSHOT" -f /app/backup.dump "$PAAS_CONNINFO"\n'
RESTORE = "set -eu\n" + PGBIN + \
    '"$PGBIN/pg_restore" --clean --if-exists --no-owner --no-privileges --role="$PAAS_ROLE" --single-transaction ' \
    '--exit-on-error -d "$PAAS_CONNINFO" /app/backup.dump\n'
VERIFY = "set -eu\n" + PGBIN + r""""$PGBIN/initdb" -D /app/db -U postgres -A trust -E UTF8 --locale=C >/dev/null
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
    env = {"PGPASSWORD": addon.credentials["superuser_password"], "LC_ALL": "C"}
    return info, env


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
            with _work(addon, path.parent) as work:
                code, _, errors = _in_container(addon, DUMP, work, "host", {
                    **env, "PAAS_SNAPSHOT": snapshot, "PAAS_CONNINFO": info})
                if code != 0:
                    raise BackupError(f"pg_dump failed: {errors.strip()[-300:]}")
                _take(work / "backup.dump", path)
    finally:
        connection.close()
    return counts


def verify(path: Path, expected: dict, addon, scratch_root: Path) -> None:
    """Restore `path` into a scratch server in a container and compare its counts; BackupError if they differ."""
    with _work(addon, scratch_root) as work:
        shutil.copyfile(path, work / "backup.dump", follow_symlinks=False)
        identity_of(addon, work)
        code, text, errors = _in_container(addon, VERIFY, work, "none", {"COUNTS_SQL": COUNTS_SQL})
        if code != 0:
            raise BackupError(f"the scratch restore failed (exit {code}): {errors.strip()[-300:]}")
        compare(expected, parse_counts(text))


def restore(addon, path: Path) -> None:
    """pg_restore into the add-on's database, replacing what is there, owned by the app's role."""
    info, env = _conninfo(addon)
    with _work(addon, path.parent.parent / "scratch") as work:
        shutil.copyfile(path, work / "backup.dump", follow_symlinks=False)
        identity_of(addon, work)
        code, _, errors = _in_container(addon, RESTORE, work, "host", {
            **env, "PAAS_CONNINFO": info, "PAAS_ROLE": addon.credentials.get("owner", addon.credentials["user"])})
    if code != 0:
        raise BackupError(f"pg_restore failed: {errors.strip()[-300:]}")


@contextlib.contextmanager
def _work(addon, parent: Path):
    """A directory of the add-on's uid for one container, removed afterwards."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=parent))
    try:
        identity_of(addon, work)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def identity_of(addon, work: Path) -> None:
    from paas.runtime import identity

    identity.hand_over(work, identity.addon_uid(addon.pk))


def _take(made: Path, path: Path) -> None:
    """The container's dump as the platform's file: a regular file only (never a link), 0600, root's."""
    info = os.lstat(made)
    if not stat.S_ISREG(info.st_mode):
        raise BackupError("pg_dump left no dump file")
    os.chown(made, 0, 0, follow_symlinks=False)
    os.chmod(made, 0o600)
    os.rename(made, path)


def _in_container(addon, script: str, work: Path, network: str, env: dict) -> tuple[int, bytes, str]:
    """Run `script` on the add-on's stack and server packages as its uid, `work` at /app: exit code,
    stdout (bounded) and the end of stderr."""
    from paas.runtime import container, identity, stacks
    from paas.runtime.spec import ContainerSpec, Limits, Mount
    from paas.services import serverpackages

    try:
        stack = stacks.get(addon.stack)
        layers = serverpackages.ensure(addon.stack, "postgres")
    except Exception as error:  # a stack or its packages this host cannot have: the backup says so
        raise BackupError(f"the {addon.stack} stack's PostgreSQL is not available here: {error}") from None
    uid = identity.addon_uid(addon.pk)
    spec = ContainerSpec(
        command=("/bin/sh", "-c", script), layers=(*((layers,) if layers else ()), *stack.layers),
        binds=(*stack.binds, Mount(work, "/app", readonly=False)),
        env=(("PATH", "/usr/bin:/bin"), *sorted(env.items())), workdir="/app", user=f"{uid}:{uid}",
        user_name="addon", network=network, limits=Limits(memory=VERIFY_MEMORY, pids=128),
        id=f"backup-{secrets.token_hex(5)}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        outcome = container.run(spec, stdout=out, stderr=err)
        out.seek(0)
        err.seek(0, os.SEEK_END)
        err.seek(max(0, err.tell() - 4096))
        return outcome.exit_code, out.read(MAX_COUNTS_BYTES + 1), err.read().decode(errors="replace")


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
