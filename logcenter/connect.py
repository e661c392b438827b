"""Connections the Log Center opens to users' endpoints (drains, alert webhooks): to checked addresses only.

Every connect resolves the host and checks each address (logcenter/destinations.py) right before
using it, and then connects to that address, never to the name again: a name that resolves to a
public address at the check and a private one a moment later (DNS rebinding) gains nothing.
"""

import base64
import http.client
import socket
import ssl

from paas.logcenter import destinations

TIMEOUT_S = 10.0            # connect, TLS handshake and each send


class SendError(Exception):
    """The destination answered, but not with success."""


def open_connection(dest: destinations.Destination, allowed: list, tls_context: ssl.SSLContext) -> socket.socket:
    """A connection to the first checked address that answers (TLS, verified for the URL's host, if asked)."""
    error: Exception = OSError("no address")
    for address in destinations.addresses(dest, allowed):
        try:
            sock = socket.create_connection(address, timeout=TIMEOUT_S)
        except OSError as exc:
            error = exc
            continue
        if dest.tls:
            try:
                return tls_context.wrap_socket(sock, server_hostname=dest.host)
            except (OSError, ssl.SSLError):
                sock.close()
                raise
        return sock
    raise error


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) over ``open_connection``, with the URL's host name for Host."""

    def __init__(self, dest: destinations.Destination, allowed: list, tls_context: ssl.SSLContext):
        super().__init__(dest.host, dest.port, timeout=TIMEOUT_S)
        self._target = (dest, allowed, tls_context)

    def connect(self) -> None:
        self.sock = open_connection(*self._target)


def post(dest: destinations.Destination, allowed: list, tls_context: ssl.SSLContext, body: bytes,
         headers: dict) -> None:
    """POST ``body`` to the destination's path; anything but a 2xx raises SendError."""
    conn = _PinnedConnection(dest, allowed, tls_context)
    try:
        headers = {**headers, "User-Agent": "paas-logs"}
        if dest.username or dest.password:
            token = base64.b64encode(f"{dest.username}:{dest.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn.request("POST", dest.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 << 10)
        if not 200 <= response.status < 300:
            raise SendError(f"HTTP {response.status}")
    finally:
        conn.close()


# What a failed send may raise: the caller records it and retries later.
FAILURES = (OSError, ssl.SSLError, http.client.HTTPException, destinations.DestinationError, SendError)
