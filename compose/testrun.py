"""``make test``: make sure PostgreSQL and Redis are there, then run the whole suite.

The machine's own servers at the standard ports are used when they answer;
otherwise (or with ``PAAS_TEST_SERVICES=private``) private ones are started under
``.paas-test/`` (``PAAS_TEST_DATA_DIR``) and stopped afterwards.
The suite is set-up, not a platform process: on private servers it connects as
their superuser and Redis admin, since Django creates a test database per run.
"""

import os
import subprocess
import sys
from pathlib import Path

from paas.compose.backing import Backing, ServiceError

CHECKOUT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    services = os.environ.get("PAAS_TEST_SERVICES", "auto")
    if services not in ("auto", "private"):
        print(f"make test: PAAS_TEST_SERVICES={services!r}: use auto or private", file=sys.stderr)
        return 2
    data_dir = Path(os.environ.get("PAAS_TEST_DATA_DIR") or CHECKOUT / ".paas-test").resolve()
    backing = Backing(data_dir, prefer_standard_ports=services == "auto")
    try:
        endpoints = backing.start()
    except ServiceError as error:
        print(f"make test: {error}", file=sys.stderr)
        return 1
    try:
        pytest = Path(sys.executable).with_name("pytest")
        child_env = {**os.environ, "DATABASE_URL": endpoints.admin_database_url,
                     "REDIS_URL": endpoints.redis_url("admin"), "PYTHONSAFEPATH": "1"}
        return subprocess.call([str(pytest), *args], cwd=CHECKOUT, env=child_env)
    finally:
        backing.stop()


if __name__ == "__main__":
    sys.exit(main())
