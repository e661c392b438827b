"""Whether a client connection came over TLS: the protocol layer (router/protocol/forwarding.py)
then writes ``X-Forwarded-Proto: https`` in the head it forwards to the instance."""


def is_tls(channel) -> bool:
    """Whether the client connection behind ``channel`` is TLS."""
    return channel.get_extra_info("sslcontext") is not None
