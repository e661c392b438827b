"""How the API is served: uvicorn worker processes running Django's ASGI handler (platform/asgi.py).

Log follows and run output wait on each worker's event loop (platform/api/longpoll.py), so
they hold no thread; every other view runs on a thread of its own per request, as Django's
ASGI handler does. ``make up`` starts this command (compose/up.py), tests start the same.
"""

import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def argv(host: str, port: int | str, workers: int | str) -> list[str]:
    """The API server's command line, listening on ``host:port`` with ``workers`` processes."""
    return [
        str(BIN / "uvicorn"), "paas.platform.asgi:application", "--host", host, "--port", str(port),
        "--workers", str(workers),
        # The API sees clients as they connect: an X-Forwarded-For from loopback must not
        # choose the address the login throttle counts (uvicorn trusts it from 127.0.0.1 by default).
        "--no-proxy-headers",
        # Stopping waits this long for open requests (a follow waits up to 25 s): then it cuts them.
        "--timeout-graceful-shutdown", "5",
        "--lifespan", "off",  # Django has no lifespan events
        "--log-level", "info",
    ]
