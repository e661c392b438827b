"""A build's output as a Redis stream: the worker appends, the git receiver follows.

Stream ``<prefix>builds:<uuid>`` holds entries ``{"line": ...}`` and ends with one
``{"end": status, "message": ..., "release": N}``. It expires a day after the
build ends; the whole output is also kept on the Build row.
"""

import time
from dataclasses import dataclass

import threading

import redis
from django.conf import settings

from paas.contracts import redis_keys
from paas.platform.redis_client import get_redis

KEEP_SECONDS = 24 * 3600
MAX_ENTRIES = redis_keys.BUILD_OUTPUT_MAXLEN
MISSED_LINE = "       ({} lines of output not shown while the platform's Redis was away: paas builds:info has them)"


CANCEL_CHECK_S = 0.5
# How long the stream must stay quiet after the row says the build ended before the row's end is
# taken: the worker streams "Released vN" and the end entry just after the row commits.
END_GRACE_S = 5.0


def stream_key(build_uuid) -> str:
    return redis_keys.build_output(settings.PAAS_REDIS_PREFIX, build_uuid)


def cancel_key(build_uuid) -> str:
    return redis_keys.build_cancel(settings.PAAS_REDIS_PREFIX, build_uuid)


def request_cancel(build_uuid) -> None:
    get_redis().set(cancel_key(build_uuid), "1", ex=KEEP_SECONDS)


class OutputWriter:
    """Collects a build's lines for the row and streams them to whoever follows the build.

    The row keeps every line; the stream is the live view. While Redis is away lines are not
    streamed (the build goes on), and the first line streamed after says how many were missed.
    """

    def __init__(self, build_uuid):
        self.key = stream_key(build_uuid)
        self.lines: list[str] = []
        self.missed = 0
        self.redis = get_redis()

    def line(self, text: str) -> None:
        self.lines.append(text)
        try:
            if self.missed:
                self._add({"line": MISSED_LINE.format(self.missed)})
                self.missed = 0
            self._add({"line": text})
        except redis.RedisError:
            self.missed += 1

    def end(self, status: str, message: str = "", release: int | None = None) -> None:
        fields = {"end": status, "message": message, "release": "" if release is None else str(release)}
        try:
            self.redis.xadd(self.key, fields)
            self.redis.expire(self.key, KEEP_SECONDS)
        except redis.RedisError:
            pass  # the follower reads the end from the Build row (follow())

    def _add(self, fields: dict) -> None:
        self.redis.xadd(self.key, fields, maxlen=MAX_ENTRIES, approximate=True)

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


@dataclass
class BuildEnd:
    status: str
    message: str
    release: int | None


def follow(build_uuid, on_line, *, timeout: float, block_ms: int = 1000,
           end_grace_s: float = END_GRACE_S) -> BuildEnd | None:
    """Call ``on_line`` for every line until the build ends; None when ``timeout`` passes first.

    Level-triggered on the Build row: whenever the stream is quiet or Redis is away, the row
    says whether the build has ended (its end entry may have been lost with a Redis restart).
    The row commits before the worker streams its last lines (the release), so the row's end
    is taken only once the stream has stayed quiet for ``end_grace_s`` after it.
    """
    client = get_redis()
    key, last_id = stream_key(build_uuid), "0-0"
    deadline = time.monotonic() + timeout
    row_end, quiet_since = None, 0.0
    while time.monotonic() < deadline:
        try:
            result = client.xread({key: last_id}, block=block_ms, count=500)
        except redis.RedisError:
            result = None
            time.sleep(block_ms / 1000)
        for _, entries in result or []:
            for entry_id, fields in entries:
                last_id = entry_id
                fields = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
                if "end" in fields:
                    release = int(fields["release"]) if fields.get("release") else None
                    return BuildEnd(fields["end"], fields.get("message", ""), release)
                on_line(fields["line"])
        if result:
            quiet_since = time.monotonic()
            continue
        if row_end is None:
            row_end = ended(build_uuid)
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= end_grace_s:
            return row_end
    return None


def ended(build_uuid) -> BuildEnd | None:
    """The end of a finished build from its row (and its release); None while it runs or the database is away."""
    from django.db import DatabaseError, close_old_connections

    from paas.platform.models import Build, Release

    try:
        close_old_connections()
        build = Build.objects.filter(uuid=build_uuid).values("pk", "status", "error").first()
        if build is None or build["status"] not in Build.FINISHED:
            return None
        release = None
        if build["status"] == Build.SUCCEEDED:
            release = (Release.objects.filter(build_id=build["pk"]).order_by("-version")
                       .values_list("version", flat=True).first())
            if release is None:
                return None   # the build and its release are one transaction: not visible yet
        return BuildEnd(build["status"], build["error"], release)
    except DatabaseError:
        return None


class CancelWatch:
    """Sets ``event`` when someone asks to cancel the build (builds:cancel), until stopped.

    The driver passes the event to each step, whose processes are killed once it is set.
    """

    def __init__(self, build_uuid):
        self.key = cancel_key(build_uuid)
        self.event = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def __enter__(self) -> threading.Event:
        self.thread.start()
        return self.event

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(timeout=5)

    def watch(self) -> None:
        client = get_redis()
        while not self.done.wait(CANCEL_CHECK_S):
            try:
                if client.exists(self.key):
                    self.event.set()
                    return
            except redis.RedisError:
                continue  # Redis away: a cancel asked meanwhile is seen once it is back
