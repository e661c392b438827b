"""Listening sockets handed to the router, and its readiness report: what lets it restart
without refusing a connection.

Whoever starts the router (``make up``'s supervisor, or systemd through ``paas-router.socket``)
may open the listening sockets itself and keep them open across router restarts: it names
their descriptors in ``PAAS_ROUTER_LISTEN_FD`` (the app port), ``PAAS_ROUTER_TLS_FD`` (the
app port over TLS) and ``PAAS_ROUTER_ADMIN_FD``
(the admin port). While no router accepts, the kernel queues new connections on the socket
(its backlog) instead of refusing them; an upgraded router started beside the old one accepts
from the same queue, so the old one can stop accepting and drain with nothing dropped.

Readiness uses systemd's notify protocol (``sd_notify(3)``): when every worker serves, the
router sends ``READY=1`` to the datagram socket named in ``NOTIFY_SOCKET``, so a supervisor
(systemd's ``Type=notify``, or make up's rolling restart) stops the old router only then.
"""

import os
import socket
import stat

LISTEN_FD = "PAAS_ROUTER_LISTEN_FD"
TLS_FD = "PAAS_ROUTER_TLS_FD"   # the TLS port's socket, handed over like the plain one
ADMIN_FD = "PAAS_ROUTER_ADMIN_FD"


class HandoverError(Exception):
    """A handed descriptor is not a listening TCP socket; the message names the variable."""


def inherited_socket(variable: str) -> socket.socket | None:
    """The listening socket whose descriptor ``variable`` names, or None when it is unset.

    The descriptor must be an open stream socket that listens: anything else (a file, a
    socket not yet listening, a closed number) is refused, as accepting on it would fail later
    and far from its cause.
    """
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 3:
        raise HandoverError(f"{variable} is not a descriptor number (3 or above)")
    fd = int(raw)
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise HandoverError(f"{variable}={fd} is not a socket")
    except OSError as error:
        raise HandoverError(f"{variable}={fd} is not an open descriptor ({error.strerror})") from None
    sock = socket.socket(fileno=fd)
    if (sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_STREAM
            or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
        sock.detach()
        raise HandoverError(f"{variable}={fd} is not a listening TCP socket")
    sock.setblocking(False)
    return sock


def notify(state: str) -> bool:
    """Send ``state`` (``READY=1``, ``STOPPING=1``) to ``NOTIFY_SOCKET`` if one is set; True if sent.

    A path starting with ``@`` is in the abstract namespace, as systemd defines it.
    """
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            return False
    return True
