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


TOKEN = "test-token-" + "x" * 32


def start_owner(data_dir: Path, prefix: str, **env: str) -> tuple[subprocess.Popen, tuple[str, int]]:
    """``paas-logs`` taking batches over TCP (any free port of ``PAAS_LOG_INGEST_BIND``, loopback unless given)
    with ``TOKEN``, no worker of its own unless ``PAAS_LOG_LOCAL_INGEST`` says; (process, its address)."""
    full = {**os.environ, "REDIS_URL": config.redis_url(), "PAAS_REDIS_PREFIX": prefix, "PAAS_DATA_DIR": str(data_dir),
            "PAAS_LOG_CONSUMER": "owner", "PAAS_LOG_INGEST_TOKEN": TOKEN, "PAAS_LOG_INGEST_BIND": "127.0.0.1:0",
            "PAAS_LOG_LOCAL_INGEST": "0", **env}
    address_file = data_dir / "logcenter" / "ingest-address"
    with open(data_dir / "owner.log", "ab") as log:
        process = subprocess.Popen([str(BIN / "paas-logs")], env=full, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for(lambda: address_file.exists() or process.poll() is not None, 60, "paas-logs taking batches")
        assert process.poll() is None, (data_dir / "owner.log").read_text()[-2000:]
    except BaseException:
        stop(process)
        raise
    host, _, port = address_file.read_text().strip().rpartition(":")
    return process, (host, int(port))


def start_worker(data_dir: Path, prefix: str, address: tuple[str, int], consumer: str, argv_prefix=(),
                 **env: str) -> subprocess.Popen:
    """``paas-logs-ingest`` named ``consumer``, handing batches to the owner at ``address``; its log in data_dir."""
    full = {**os.environ, "REDIS_URL": config.redis_url(), "PAAS_REDIS_PREFIX": prefix,
            "PAAS_DATA_DIR": str(data_dir / "nowhere"), "PAAS_LOG_CONSUMER": consumer,
            "PAAS_LOG_INGEST_TOKEN": TOKEN, "PAAS_LOG_INGEST_ADDRESS": f"{address[0]}:{address[1]}", **env}
    with open(data_dir / f"{consumer}.log", "ab") as log:
        return subprocess.Popen([*argv_prefix, str(BIN / "paas-logs-ingest")], env=full, stdout=subprocess.DEVNULL,
                                stderr=log)


def counted(data_dir: Path, where: str = "1") -> dict:
    """Lines, distinct (app, entry id) and distinct lines in the store of ``data_dir`` (its owner stopped)."""
    from paas.logcenter.store import Store

    store = Store(data_dir / "logcenter" / "store")
    try:
        rows = store.query("SELECT count() AS n, uniqExact(app, entry_id) AS once, uniqExact(line) AS lines "
                           f"FROM logcenter.lines WHERE {where}")
    finally:
        store.close()
    return {k: int(v) for k, v in rows[0].items()}
