"""`paas logs --tail` through the long-poll endpoint: it follows new lines, and past the cap it says why."""

import os
import select
import subprocess
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from paas.platform.logs import stream_key
from paas.platform.redis_client import get_redis
from tests.platform.test_cli import PAAS, logged_in_cli


@pytest.fixture
def cli(live_server, tmp_path):
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "tailed", "--no-remote")
    return cli


def read_until(process, text: str, timeout: float) -> str:
    """The process's stdout up to ``text``; fail after ``timeout`` seconds."""
    seen, deadline = "", time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {text!r} in {seen[-500:]!r}"
        if select.select([process.stdout], [], [], min(left, 0.5))[0]:
            chunk = os.read(process.stdout.fileno(), 4096).decode()
            assert chunk, f"paas exited before printing {text!r}: {seen[-500:]!r}"
            seen += chunk
    return seen


def test_tail_prints_a_line_written_after_it_started(cli):
    tail = subprocess.Popen([PAAS, "logs", "-a", "tailed", "--tail", "-n", "5"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cli.cwd, env=cli.env())
    try:
        read_until(tail, "created app tailed", 30)
        get_redis().xadd(stream_key("tailed"), {"ts": "2026-01-01T00:00:00Z", "line": "fresh line",
                                                "source": "app", "process": "web.1"})
        assert "app[web.1]: fresh line" in read_until(tail, "fresh line", 30)
    finally:
        tail.kill()
        tail.wait()


def test_tail_past_the_cap_of_open_follows_says_so(cli):
    carol = get_user_model().objects.get(username="carol")
    key = f"{settings.PAAS_REDIS_PREFIX}follows:user:{carol.pk}"
    # Every slot taken by follows elsewhere (another terminal, another worker), none expiring soon.
    far = time.time() + 3600
    get_redis().zadd(key, {f"elsewhere-{i}": far for i in range(settings.PAAS_MAX_FOLLOWS_PER_USER)})
    try:
        result = cli.run("logs", "-a", "tailed", "--tail", ok=False)
        assert result.returncode == 1
        assert f"already have {settings.PAAS_MAX_FOLLOWS_PER_USER} waiting requests open" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        get_redis().delete(key)


def test_an_expired_slot_of_a_crashed_worker_is_not_counted(cli):
    carol = get_user_model().objects.get(username="carol")
    key = f"{settings.PAAS_REDIS_PREFIX}follows:user:{carol.pk}"
    # Slots a killed worker never gave back: their expiry has passed.
    get_redis().zadd(key, {f"crashed-{i}": time.time() - 1 for i in range(settings.PAAS_MAX_FOLLOWS_PER_USER)})
    try:
        tail = subprocess.Popen([PAAS, "logs", "-a", "tailed", "--tail"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cli.cwd, env=cli.env())
        try:
            read_until(tail, "created app tailed", 30)
            get_redis().xadd(stream_key("tailed"), {"line": "after the crash", "source": "app", "process": "web.1"})
            read_until(tail, "after the crash", 30)
        finally:
            tail.kill()
            tail.wait()
    finally:
        get_redis().delete(key)
