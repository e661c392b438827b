"""Does an add-on server answer queries? The platform's own connection, from the server's host.

An open port is not enough: PostgreSQL accepts connections while it recovers
("the database system is starting up"). Provisioning ends, and a restored
server counts as back, only once a real query is answered.
"""

from paas.services import catalog
from paas.services.providers import provider


def server_url(addon) -> str:
    """The superuser's URL to the server's own address (reached from its host, never by tenants)."""
    port = catalog.service(addon.service).port
    return provider(addon.service).superuser_url(addon.credentials, addon.address, port)


def answers(addon, timeout: float = 1.0) -> bool:
    if not addon.address:
        return False
    if addon.service == "redis":
        import redis

        try:
            return bool(redis.Redis.from_url(server_url(addon), socket_timeout=timeout,
                                             socket_connect_timeout=timeout).ping())
        except redis.RedisError:
            return False
    import psycopg2

    try:
        with psycopg2.connect(server_url(addon), connect_timeout=max(1, int(timeout))) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return cursor.fetchone() == (1,)
    except psycopg2.Error:
        return False
