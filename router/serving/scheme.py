"""Whether a client connection came over TLS: the protocol layer (router/protocol/forwarding.py)
then writes ``X-Forwarded-Proto: https`` in the head it forwards to the instance."""


def transport_is_tls(transport) -> bool:
    """Whether ``transport`` carries TLS: asked once per connection, when it is made (Channel)."""
    return transport.get_extra_info("sslcontext") is not None


def is_tls(channel) -> bool:
    """Whether the client connection behind ``channel`` is TLS."""
    return channel.tls
