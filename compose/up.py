"""``make up``: the whole platform on this machine, in the foreground, until Ctrl-C.

Starts (or uses) PostgreSQL and Redis, migrates, creates the first admin on first
start, then runs the API and console under gunicorn. Ctrl-C stops everything it
started, private database servers included.
"""

import os
import subprocess
import sys
from pathlib import Path

from paas.compose.services import Backing, ServiceError
from paas.compose.supervisor import Program, Supervisor

CHECKOUT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def data_dir() -> Path:
    return Path(os.environ.get("PAAS_DATA_DIR") or CHECKOUT / ".paas").resolve()


def admin(env: dict, *args: str, capture: bool = False) -> str:
    """Run a ``paas-admin`` command with the platform's environment; raise on failure."""
    result = subprocess.run(
        [str(BIN / "paas-admin"), *args], env=env, cwd=env["PAAS_DATA_DIR"], text=True,
        capture_output=capture,
    )
    if result.returncode != 0:
        raise ServiceError(f"paas-admin {args[0]} failed" + (f": {result.stderr.strip()}" if capture else ""))
    return result.stdout if capture else ""


def programs(env: dict) -> list[Program]:
    bind = f"{os.environ.get('PAAS_API_BIND', '127.0.0.1')}:{os.environ.get('PAAS_API_PORT', '8000')}"
    workers = os.environ.get("PAAS_API_WORKERS", "2")
    return [
        Program("api", [str(BIN / "gunicorn"), "paas.platform.wsgi:application", "--bind", bind,
                        "--workers", workers, "--threads", "4", "--worker-class", "gthread",
                        "--chdir", env["PAAS_DATA_DIR"], "--access-logfile", "-", "--log-level", "warning"],
                env=env, cwd=env["PAAS_DATA_DIR"]),
    ]


def banner(env: dict, first_start: str) -> str:
    api = os.environ.get("PAAS_PUBLIC_API_URL") or f"http://127.0.0.1:{os.environ.get('PAAS_API_PORT', '8000')}"
    lines = [
        "",
        "paas is up.",
        f"  API:      {api}/api/   (OpenAPI: {api}/api/openapi.json)",
        f"  Console:  {api}/admin/",
        f"  Data:     {env['PAAS_DATA_DIR']}",
        "",
    ]
    if first_start.strip().startswith("username:"):
        lines += ["First start: an admin account was created. These credentials are shown only now:"]
        lines += ["  " + line for line in first_start.strip().splitlines()]
    else:
        lines += [f"Log in as admin (its token is in {env['PAAS_DATA_DIR']}/admin-token;",
                  "  reset the password with: .venv/bin/paas-admin changepassword admin)"]
    lines += [
        "",
        f"  .venv/bin/paas login --api {api}",
        "",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    directory = data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    backing = Backing(directory)
    supervisor = Supervisor()
    try:
        env = {**os.environ, **backing.start(), "PAAS_DATA_DIR": str(directory), "PYTHONSAFEPATH": "1"}
        admin(env, "migrate", "--no-input", "-v", "0")
        admin(env, "collectstatic", "--no-input", "-v", "0")
        first_start = admin(env, "bootstrap", capture=True)
        for program in programs(env):
            supervisor.start(program)
        print(banner(env, first_start), flush=True)
        return supervisor.wait()
    except ServiceError as error:
        print(f"paas: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop_all()
        backing.stop()
        print("paas: stopped.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
