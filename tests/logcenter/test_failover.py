"""Two real ``paas-logs`` consumers of one group: the first killed -9 in the middle of its ingest, the
second (another host's name) takes over its pending entries. Every line is stored once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from paas.logcenter import schema
from paas.logcenter.ingest import GROUP
from paas.runtime import config
from tests.logcenter.process import stop
from tests.waiting import wait_for

BIN = Path(sys.executable).parent
APPS = ("north", "south", "east")
LINES = 60_000


def start(data_dir: Path, prefix: str, consumer: str) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": config.redis_url(), "PAAS_REDIS_PREFIX": prefix, "PAAS_DATA_DIR": str(data_dir),
           "PAAS_LOG_CONSUMER": consumer, "PAAS_LOG_CLAIM_IDLE": "1", "PAAS_LOG_RATE_LIMIT": "1000000"}
    with open(data_dir / f"{consumer}.log", "wb") as log:
        return subprocess.Popen([str(BIN / "paas-logs")], env=env, stdout=subprocess.DEVNULL, stderr=log)




def acked_and_pending(client, key: bytes, consumer: bytes) -> tuple[int, int]:
    group = next(g for g in client.xinfo_groups(key) if g["name"] == GROUP.encode())
    mine = next((c["pending"] for c in client.xinfo_consumers(key, GROUP) if c["name"] == consumer), 0)
    return (group["entries-read"] or 0) - group["pending"], mine


def test_a_consumer_killed_mid_batch_loses_and_doubles_nothing(tmp_path, streams):
    client, prefix = streams
    pipe = client.pipeline(transaction=False)
    for i in range(LINES):
        app = APPS[i % 3]
        pipe.xadd(schema.stream_key(prefix, app), schema.entry(app=app, source="app", line=f"line {i}",
                                                               instance=f"{app}-1"))
    pipe.execute()
    keys = [schema.stream_key(prefix, app).encode() for app in APPS]
    first = start(tmp_path, prefix, "host-a")
    second = None
    try:
        # Killed once it has acknowledged a batch and holds entries read (stored or not) but not acknowledged.
        def midway():
            states = [acked_and_pending(client, k, b"host-a") for k in keys if client.xinfo_groups(k)]
            return states and any(acked for acked, _ in states) and any(pending for _, pending in states)
        wait_for(lambda: midway() or first.poll() is not None, 60, "host-a midway through", interval=0.005)
        assert first.poll() is None, (tmp_path / "host-a.log").read_text()[-2000:]
        first.send_signal(signal.SIGKILL)
        first.wait()
        left = sum(client.xpending(k, GROUP)["pending"] for k in keys)
        assert left > 0
        second = start(tmp_path, prefix, "host-b")    # its store is host-a's, free again
        wait_for(lambda: all(client.xpending(k, GROUP)["pending"] == 0 and acked_and_pending(client, k, b"")[0]
                             == client.xlen(k) for k in keys) or second.poll() is not None,
                 90, "host-b to take over and acknowledge everything")
        assert second.poll() is None, (tmp_path / "host-b.log").read_text()[-2000:]
        stop(second)
    finally:
        stop(first)
        if second is not None:
            stop(second)
    from paas.logcenter.store import Store

    store = Store(tmp_path / "logcenter" / "store")
    try:
        counted = store.query("SELECT count() AS n, uniqExact(app, entry_id) AS once, uniqExact(line) AS lines "
                              "FROM logcenter.lines")
    finally:
        store.close()
    assert [{k: int(v) for k, v in row.items()} for row in counted] == [{"n": LINES, "once": LINES, "lines": LINES}]
    assert "claimed" in (tmp_path / "host-b.log").read_text()
