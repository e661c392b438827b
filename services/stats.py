"""What pg:info and redis:info show, asked of the server itself over the platform's own connection."""

from paas.platform.exceptions import PlatformError
from paas.services import catalog
from paas.services.probe import server_url

TIMEOUT_S = 3


class ServerUnavailable(PlatformError):
    status = 503
    code = "addon_unavailable"


def postgres(addon) -> dict:
    import psycopg2

    plan = catalog.service("postgres").plan(addon.plan)
    try:
        with psycopg2.connect(server_url(addon), connect_timeout=TIMEOUT_S) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('server_version'), pg_database_size(current_database()),"
                               " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),"
                               " (SELECT count(*) FROM information_schema.tables"
                               "  WHERE table_schema NOT IN ('pg_catalog', 'information_schema'))")
                version, size, connections, tables = cursor.fetchone()
    except psycopg2.Error as error:
        raise ServerUnavailable(f"{addon.name} does not answer ({addon.state}, server {addon.server_state}): "
                                f"{str(error).strip().splitlines()[0] if str(error).strip() else 'no reply'}") from None
    return {"version": version, "data_size_bytes": size, "disk_bytes": plan.volume_mb << 20,
            "connections": connections, "tables": tables, "memory_mb": plan.memory_mb}


def redis(addon) -> dict:
    import redis as redis_lib

    plan = catalog.service("redis").plan(addon.plan)
    try:
        info = redis_lib.Redis.from_url(server_url(addon), socket_timeout=TIMEOUT_S,
                                        socket_connect_timeout=TIMEOUT_S).info()
    except redis_lib.RedisError as error:
        raise ServerUnavailable(f"{addon.name} does not answer ({addon.state}): {error}") from None
    return {"version": info.get("redis_version"), "used_memory_bytes": info.get("used_memory"),
            "keys": sum(v.get("keys", 0) for k, v in info.items() if k.startswith("db") and isinstance(v, dict)),
            "clients": info.get("connected_clients"), "aof_enabled": bool(info.get("aof_enabled")),
            "memory_mb": plan.memory_mb}


def stats(addon) -> dict:
    return {"postgres": postgres, "redis": redis}[addon.service](addon)
