"""paas-logs as a real process for tests that go through the API or the console: the ``paas_logs`` fixture."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings as django_settings

from paas.logcenter import settings as logcenter_settings
from paas.runtime import config
from tests.waiting import wait_for

BIN = Path(sys.executable).parent


@pytest.fixture
def paas_logs(tmp_path, monkeypatch):
    """paas-logs on this test's Redis prefix, its socket and store under tmp_path; the API pointed at it."""
    env = {**os.environ, "REDIS_URL": config.redis_url(), "PAAS_REDIS_PREFIX": django_settings.PAAS_REDIS_PREFIX,
           "PAAS_DATA_DIR": str(tmp_path), "PAAS_LOG_CONSUMER": "test", "PAAS_LOG_DRAIN_ALLOW": "127.0.0.0/8",
           "PAAS_LOG_ALERT_EVERY": "1"}
    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAAS_LOG_DRAIN_ALLOW", "127.0.0.0/8")    # the test's own listeners are on loopback
    logcenter_settings.current.cache_clear()
    process = subprocess.Popen([str(BIN / "paas-logs")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    socket_path = tmp_path / "logcenter" / "paas-logs.sock"
    wait_for(lambda: socket_path.is_socket() or process.poll() is not None, 60, "paas-logs listening")
    assert process.poll() is None, process.stderr.read()[-2000:]
    client = redis_lib.Redis.from_url(config.redis_url())
    yield process, client
    stop(process)
    keys = list(client.scan_iter(match=django_settings.PAAS_REDIS_PREFIX + "*"))
    if keys:
        client.delete(*keys)
    client.close()
    logcenter_settings.current.cache_clear()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, as systemd and make up stop it; SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
