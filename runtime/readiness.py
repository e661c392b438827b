"""When an instance is ready for traffic: the checks the host agent makes on this host.

A web instance is ready when its HTTP server answers, not when its port
accepts. A pre-forking server (gunicorn, uvicorn --workers) binds $PORT in
its master and only then forks workers that import the app: the port
accepts for the 0.3-1.5 s the import takes here, and a rollout that switched
traffic then left the first requests waiting in the router (1.36 s of a
warm Flask redeploy). So until an instance is first up, the check sends
HTTP's own no-op, ``OPTIONS * HTTP/1.1`` (RFC 9110 9.3.7: a request about the
server, which no route of the app's handles; Flask, Express and Django answer
it 404/400/200 without running a view), and any answer counts, whatever its
status or even whether it is HTTP: the process serving the port is reading
requests. Once up, the port accepting is enough (a request per check would
fill the app's own logs); an app's declared health path (``paas
healthcheck:set``) is asked with GET every time, as before.

Checks never trust what the instance says: at most one byte of its answer is
read, and every wait is bounded.
"""

import http.client
import socket
from dataclasses import dataclass

#: The request whose answer proves a server is reading requests.
PING = (b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nUser-Agent: paas-health-check\r\n"
        b"Connection: close\r\n\r\n")
CONNECT_TIMEOUT_S = 0.2
#: How long one check waits for the answer: an app busy serving its first requests still answers
#: within it; one whose workers are importing does not yet (the next check asks again).
ANSWER_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Check:
    """What to check on an instance (from its Desired row)."""

    web: bool = False        # a web process: routers send it traffic
    health_path: str = ""    # the app's declared health path, if any
    expose: int | None = None  # an add-on server's port: accepting is ready


def ready(address: str, port: int, check: Check, *, first: bool,
          answer_timeout: float = ANSWER_TIMEOUT_S) -> bool:
    """Whether the instance at address:port is ready; `first`: it has not been up yet."""
    if check.expose is not None:
        return port_open(address, check.expose)
    if not check.web:
        return True
    if check.health_path:
        return port_open(address, port) and http_ok(address, port, check.health_path)
    return answers(address, port, answer_timeout) if first else port_open(address, port)


def port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def answers(address: str, port: int, timeout: float = ANSWER_TIMEOUT_S) -> bool:
    """The server on address:port answers the no-op request within `timeout`: its first byte, or
    closing the connection after reading it. Refused, reset or silent: not (yet)."""
    try:
        with socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S) as sock:
            sock.settimeout(timeout)
            sock.sendall(PING)
            sock.recv(1)  # b"" (an orderly close) is an answer too
            return True
    except OSError:
        return False


def http_ok(address: str, port: int, path: str) -> bool:
    """GET path answers 2xx or 3xx within a second (what the app declared as its health check)."""
    connection = http.client.HTTPConnection(address, port, timeout=ANSWER_TIMEOUT_S)
    try:
        connection.request("GET", path, headers={"User-Agent": "paas-health-check", "Connection": "close"})
        return connection.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
