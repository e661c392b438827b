"""``X-Forwarded-Proto: https`` on requests that arrived over TLS.

The sans-io protocol (router/protocol/forwarding.py, and the compiled heads) writes
``X-Forwarded-Proto: http`` in every forwarded head, having dropped whatever the client
sent under that name, so the one such line in a head is the router's own. Until the
protocol takes the scheme as an argument, the serving layer, which knows the transport,
turns that line into ``https`` here.
"""

_PLAIN = b"\r\nX-Forwarded-Proto: http\r\n"
_TLS = b"\r\nX-Forwarded-Proto: https\r\n"


def over_tls(head: bytes) -> bytes:
    """The forwarded ``head`` as for a request that came over TLS."""
    return head.replace(_PLAIN, _TLS, 1)


def is_tls(channel) -> bool:
    """Whether the client connection behind ``channel`` is TLS."""
    return channel.get_extra_info("sslcontext") is not None
