"""A fresh PostgreSQL cluster made once per host, copied into each new add-on's volume.

initdb is most of a new server's start (3 to 6 s in a half-CPU container on a
loop volume); a copy of a cluster made ahead of time is a fraction of that.
The agent's control plane makes it when the agent starts (in the background,
in a container of the runner: no network, a uid no add-on has) and binds it
read-only at /run in add-on servers; a server that finds none runs initdb
itself, so nothing depends on it being there.
"""

import logging
import secrets
import shutil
import tempfile
from pathlib import Path

from paas.services import bgcontainers

log = logging.getLogger("paas.services")

MAKE = r"""set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] || exit 0
"$PGBIN/initdb" -N -D /app/pgdata -U postgres -A trust -E UTF8 --locale=C >/dev/null
# Readable by every add-on uid: each copies it into its own volume, which it alone owns.
chmod -R a+rX /app/pgdata
"""


def postgres_dir() -> Path:
    from paas.runtime import config

    return config.runtime_dir() / "addon-templates" / "postgres"


def ensure_postgres() -> None:
    """Make the template if this host has none; whole or not at all (a rename at the end)."""
    from paas.runtime import container, identity, stacks
    from paas.runtime.spec import ContainerSpec, Limits, Mount

    target = postgres_dir()
    if (target / "pgdata" / "PG_VERSION").is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".postgres-", dir=target.parent))
    try:
        uid = identity.ADDON_UIDS.start  # add-on primary keys start at 1: no server has this uid
        identity.hand_over(work, uid)
        work.chmod(0o755)
        stack = stacks.get("host")
        # Detached and waited for: container.run sets signal handlers, which only the main thread may.
        made = container.create(ContainerSpec(
            command=("/bin/sh", "-c", MAKE), layers=stack.layers, binds=(*stack.binds, Mount(work, "/app", False)),
            workdir="/app", user=f"{uid}:{uid}", user_name="addon", network="none",
            limits=Limits(memory=256 << 20), id=f"addon-template-{secrets.token_hex(4)}"))
        try:
            with bgcontainers.tracked(made.id, "none"):
                made.start()
                exited = made.wait(300)
                outcome = made.stop(grace=0) if not exited else made.mark_stopped()
        finally:
            container.release(made.id, "none")
        if outcome.exit_code == 0 and (work / "pgdata" / "PG_VERSION").is_file():
            work.rename(target)
            work = None
        else:
            log.warning("the PostgreSQL template could not be made (exit %s)", outcome.exit_code)
    except Exception as error:  # an optimisation: servers run initdb themselves without it
        log.warning("the PostgreSQL template could not be made: %s", error)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def mounts(service: str, stack: str = "host") -> tuple[tuple[str, str], ...]:
    """What an add-on server of `service` on `stack` gets bound read-only (on the agent's host). The
    template is the host stack's: a Debian stack's server (another major version) runs initdb itself."""
    if service == "postgres" and stack == "host" and (postgres_dir() / "pgdata" / "PG_VERSION").is_file():
        return ((str(postgres_dir()), "/run"),)
    return ()
