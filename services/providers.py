"""The providers behind the broker, one module per service (postgres.py, redis.py), by catalog name.

Each provider module holds: ``START`` (the server's start script, run by
``/bin/sh -c`` as the add-on's uid, its volume at ``VOLUME_DESTINATION``),
``new_credentials()``, ``server_env(plan, credentials)``,
``url(credentials, host, port)`` (what binding hands to apps),
``superuser_url`` (the platform's own connection), and where TLS has a port of its
own (catalog ``tls_port``), ``tls_url(credentials, host, port)``.
"""

from paas.services import postgres, redis

PROVIDERS = {"postgres": postgres, "redis": redis}


def provider(service_name: str):
    return PROVIDERS[service_name]
