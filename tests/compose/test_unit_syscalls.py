"""The production units' syscall filter (compose/systemd/hardening.conf: SystemCallFilter=@system-service) fits
what their processes do: paas-logs (its own worker, the TCP intake, a search, a stop) and paas-logs-ingest run
under strace, and every syscall they make must be in the set systemd allows, or systemd would kill them
with SIGSYS in production (a chdb upgrade that needs a new syscall is caught here)."""

import os
import signal
import subprocess
import uuid
from pathlib import Path

import redis as redis_lib

from paas.logcenter import schema
from paas.logcenter.client import ask
from paas.runtime import config
from tests.logcenter.process import BIN, TOKEN, start_worker, stop
from tests.waiting import wait_for


def allowed(group: str = "@system-service") -> set[str]:
    """The syscalls of ``group``, its nested groups expanded, from systemd's own table."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        item = line.strip()
        if line.startswith("@"):
            current = groups.setdefault(item, [])
        elif item and not item.startswith("#") and current is not None:
            current.append(item)

    def expand(name: str) -> set[str]:
        return set().union(*(expand(i) if i.startswith("@") else {i} for i in groups[name]))
    return expand(group)


def used(trace: Path) -> set[str]:
    """The syscalls named in an strace -f log (lines `<pid> name(...`)."""
    names = set()
    for line in trace.read_text(errors="replace").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and "(" in parts[1] and not parts[1].startswith(("<...", "+++", "---")):
            names.add(parts[1].split("(", 1)[0])
    return names


def stop_traced(tracer: subprocess.Popen) -> None:
    """SIGTERM to the process strace runs (as systemd stops it), then strace ends with it."""
    children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children")
    try:
        pids = [int(pid) for pid in children.read_text().split()]
    except OSError:
        pids = []
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    stop(tracer)


def test_the_log_centers_syscalls_are_in_the_units_filter(tmp_path):
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    client = redis_lib.Redis.from_url(config.redis_url())
    env = {**os.environ, "REDIS_URL": config.redis_url(), "PAAS_REDIS_PREFIX": prefix, "PAAS_DATA_DIR": str(tmp_path),
           "PAAS_LOG_CONSUMER": "owner", "PAAS_LOG_INGEST_TOKEN": TOKEN, "PAAS_LOG_INGEST_BIND": "127.0.0.1:0"}
    owner_trace, worker_trace = tmp_path / "owner.trace", tmp_path / "worker.trace"
    owner = subprocess.Popen(["strace", "-f", "-qq", "-o", str(owner_trace), str(BIN / "paas-logs")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        address_file = tmp_path / "logcenter" / "ingest-address"
        wait_for(lambda: address_file.exists() or owner.poll() is not None, 120, "paas-logs taking batches")
        assert owner.poll() is None
        host, _, port = address_file.read_text().strip().rpartition(":")
        worker = start_worker(tmp_path, prefix, (host, int(port)), "w1",
                              argv_prefix=("strace", "-f", "-qq", "-o", str(worker_trace)))
        for i in range(300):
            client.xadd(schema.stream_key(prefix, f"app{i % 3}"), schema.entry(app="x", source="app", line=f"l {i}"))
        socket_path = tmp_path / "logcenter" / "paas-logs.sock"

        def stored() -> bool:
            answer = ask(socket_path, {"op": "search", "q": "", "since": "1h", "limit": 1000})
            return len(answer.get("lines", [])) == 300
        wait_for(stored, 120, "the 300 lines stored")
    finally:
        for process in (worker, owner):
            if process is not None:
                stop_traced(process)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    permitted = allowed()
    for trace in (owner_trace, worker_trace):
        made = used(trace)
        assert len(made) > 20, f"{trace.name}: too few syscalls traced ({sorted(made)})"
        assert not made - permitted, f"{trace.name}: outside @system-service: {sorted(made - permitted)}"
