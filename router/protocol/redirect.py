"""The HTTPS redirect of an app with ``https_redirect`` (paas https:redirect on), sans-io.

GET and HEAD get 301, the code every client follows; other methods get 308, which keeps the
method and body (RFC 9110 15.4.9), where 301 lets clients turn a POST into a GET.
"""

from paas.router.protocol.framing import Framing

SAFE = frozenset({b"GET", b"HEAD"})


def status_for(method: bytes) -> int:
    return 301 if method in SAFE else 308


def location(framing: Framing, tls_port: int) -> bytes:
    """``https://<host>[:port]<target>``: the host the client asked for, on the router's TLS port.

    The Host value and the target passed the request checks (no spaces, no control bytes), so
    they can go into a header as they are; the port the client used is replaced by the TLS one.
    """
    host = framing.host
    if host.startswith(b"["):
        host = host.split(b"]", 1)[0] + b"]"
    else:
        host = host.rsplit(b":", 1)[0]
    port = b"" if tls_port == 443 else b":%d" % tls_port
    target = framing.target if framing.target.startswith(b"/") else b"/"
    return b"https://" + host + port + target
