"""The supervisor's admin port: /metrics (Prometheus) and /healthz, plus the
periodic metrics snapshot into Redis that the autoscaler reads."""

import asyncio
import glob
import json
import logging
import os
import socket
import time

import redis.asyncio as aioredis

from paas.contracts import redis_keys
from paas.router.telemetry import metrics
from paas.router.errors import RouterError
from paas.router.protocol.http1 import ClientConnection
from paas.router.config import Limits

log = logging.getLogger("paas.router.telemetry.admin")


def load_states(metrics_dir: str) -> list[dict]:
    """Every worker's last metrics dump (a missing or torn file is left out)."""
    states = []
    for path in glob.glob(f"{metrics_dir}/worker-*.json"):
        try:
            with open(path) as f:
                states.append(json.load(f))
        except (OSError, ValueError):
            continue
    return states


class Admin:
    def __init__(self, settings, metrics_dir: str):
        self.settings = settings
        self.metrics_dir = metrics_dir

    def merged(self) -> metrics.Metrics:
        return metrics.merge(load_states(self.metrics_dir))

    async def serve(self, reader, writer) -> None:
        # The router's own HTTP/1.1, with the admin port's smaller limits.
        conn = ClientConnection(Limits(request_line=8192, header_block=8192, body=0))
        try:
            async with asyncio.timeout(5.0):
                req = None
                while req is None:
                    data = await reader.read(8192)
                    if not data:
                        return
                    conn.receive_data(data)
                    req = conn.next_request()
            target = req.target
            status, ctype, body = self.page(target.split(b"?")[0])
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % (status, b"OK" if status == 200 else b"Not Found",
                                                         ctype, len(body)) + body)
            await writer.drain()
        except (RouterError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def page(self, path: bytes):
        if path == b"/metrics":
            text = metrics.render_prometheus(self.merged(), time.time())
            return 200, b"text/plain; version=0.0.4", text.encode()
        if path == b"/healthz":
            return 200, b"text/plain", b"ok\n"
        return 404, b"text/plain", b"not found\n"

    async def snapshot_loop(self) -> None:
        """Write per-app figures for the last minute to Redis every interval."""
        client = aioredis.from_url(self.settings.redis_url)
        try:
            while True:
                await asyncio.sleep(self.settings.metrics_interval)
                try:
                    await write_snapshot(client, self.settings.key_prefix, self.merged(), time.time(),
                                         node_name(self.settings))
                except (aioredis.RedisError, OSError) as exc:
                    log.warning("metrics snapshot: %s", exc)
        finally:
            await client.aclose()


def node_name(settings) -> str:
    """This router in the snapshot: PAAS_ROUTER_NODE, or host name and port."""
    return os.environ.get("PAAS_ROUTER_NODE") or f"{socket.gethostname()}:{settings.port}"


async def write_snapshot(client, prefix: str, merged: metrics.Metrics, now: float, node: str) -> None:
    """HSET ``<prefix>router:metrics:<app>`` field `node`: each router node its own figures.

    Platform Control adds the nodes up (and skips a node whose figures are
    older than the key's lifetime); the key expires when every router stopped.
    """
    pipe = client.pipeline(transaction=False)
    ttl = 120
    for app, fig in metrics.summarize(merged, now).items():
        if not app:
            continue
        fields = {k: fig[k] for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "requests", "errors")}
        fields["window_s"] = metrics.WINDOW_SECONDS
        fields["ts"] = round(now, 3)
        fields["releases"] = fig["releases"]
        key = redis_keys.router_metrics(prefix, app)
        pipe.hset(key, node, json.dumps(fields, sort_keys=True))
        pipe.expire(key, ttl)
    await pipe.execute()
