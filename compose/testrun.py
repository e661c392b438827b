"""``make test``: the lint gate, then make sure PostgreSQL and Redis are there, then run the whole suite.

The lint gate (``lint_gate``) runs ruff over the whole checkout with the rules of
pyproject.toml's ``[tool.ruff]`` before any test: a finding stops ``make test`` there.
``PAAS_TEST_LINT=0`` skips it for one run (iterating on a test while a finding elsewhere waits).

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


def lint_gate() -> int:
    """ruff over the whole checkout (rules: pyproject.toml [tool.ruff]); 0 when it passes."""
    if os.environ.get("PAAS_TEST_LINT", "1") == "0":
        print("make test: lint gate skipped (PAAS_TEST_LINT=0)", file=sys.stderr)
        return 0
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        print(f"make test: {ruff} is missing: run make install (ruff is in the test extras)", file=sys.stderr)
        return 2
    result = subprocess.call([str(ruff), "check", "--quiet", "--output-format", "concise", "."], cwd=CHECKOUT)
    if result != 0:
        print("make test: the lint gate failed (ruff, above); fix those first", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if lint_gate() != 0:
        return 1
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
