"""runtime/freezer.py on real containers: a frozen instance uses no CPU and keeps its memory;
thawed, it answers the request that was waiting; frozen ones still stop and leave nothing."""

import socket
import time

from paas.runtime import freezer
from paas.runtime.spec import Limits

from .conftest import SERVER, wait_for

# Burns CPU in a child it forked (so the whole tree must freeze, not only PID 1's child).
SPIN_TREE = "sh -c 'while :; do :; done' & echo ready; wait"


def _said(c, word):
    return lambda: word in (c.dir / "stdout.log").read_text()


def _get(address: str, timeout: float) -> bytes:
    with socket.create_connection((address, 8080), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        return s.recv(64)


# A spinning child, and a process holding 20 MB of touched memory (anonymous: no swap here, so
# nothing but the app itself could give it back).
SPIN_AND_HOLD = ("sh -c 'while :; do :; done' & exec python3 -c 'b = bytearray(20 << 20)\n"
                 "for i in range(0, len(b), 4096): b[i] = 1\nprint(\"ready\", flush=True)\n"
                 "import time\ntime.sleep(600)'")


def test_a_frozen_container_uses_no_cpu_and_keeps_its_memory(detached):
    c = detached(["sh", "-c", SPIN_AND_HOLD], limits=Limits(memory=96 << 20, cpus=0.5))
    wait_for(_said(c, "ready"), timeout=20, what="the spinner and the holder to start")
    wait_for(lambda: c.stats()["cpu_ns"] > 50_000_000, timeout=20, what="CPU time to be counted")
    assert c.stats()["memory_bytes"] >= 20 << 20
    freezer.freeze(c.id)
    assert freezer.is_frozen(c.id)
    frozen_at = c.stats()["cpu_ns"]
    # Counted against the spinner's own progress, not the clock: in the same wait it would
    # have burnt several times what a frozen group may show.
    time.sleep(0.5)
    assert c.stats()["cpu_ns"] - frozen_at < 5_000_000
    assert c.stats()["memory_bytes"] >= 20 << 20
    assert c.is_running()
    freezer.thaw(c.id)
    assert not freezer.is_frozen(c.id)
    wait_for(lambda: c.stats()["cpu_ns"] - frozen_at > 50_000_000, timeout=20, what="the spinner to run again")


def test_a_request_to_a_frozen_server_is_answered_once_thawed(detached):
    c = detached(SERVER, network="bridge", app="frozen-web")
    address = c.record.network["address"]

    def serving():
        try:
            return _get(address, 1.0).startswith(b"HTTP/1.0 200")
        except OSError:
            return False

    wait_for(serving, timeout=20, what="the server to answer")
    freezer.freeze(c.id)
    # The kernel still accepts the connection (the listening socket is alive) but nobody answers.
    with socket.create_connection((address, 8080), timeout=2.0) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        s.settimeout(0.3)
        try:
            early = s.recv(64)
        except TimeoutError:
            early = b""
        assert early == b""
        freezer.thaw(c.id)
        s.settimeout(10.0)
        assert s.recv(64).startswith(b"HTTP/1.0 200")


def test_a_frozen_container_stops_and_leaves_no_freezer_group(detached):
    c = detached(["sh", "-c", SPIN_TREE])
    wait_for(_said(c, "ready"), timeout=20, what="the tree to start")
    freezer.freeze(c.id)
    outcome = c.stop(grace=5.0)
    # Thawed first, so SIGTERM reached it (no SIGKILL after the grace: exit 143, not 137).
    assert outcome.exit_code in (143, 0), outcome
    c.remove()
    assert not c.cgroup.exists()
    assert not freezer.v1_dir(c.id).exists()
    assert not freezer.is_frozen(c.id)


# A supervisor that kills its worker when the worker's heartbeat is a second old (as gunicorn's
# arbiter does after its timeout): thawed together, it would find the worker silent for the
# whole sleep.
SUPERVISOR = """
import os, sys, time
beat = "/tmp/beat"
open(beat, "w").close()
child = os.fork()
if child == 0:
    while True:
        os.utime(beat)
        time.sleep(0.05)
print("ready", flush=True)
while True:
    time.sleep(0.05)
    if time.time() - os.stat(beat).st_mtime > 1.0:
        print("worker silent: killed", flush=True)
        os.kill(child, 9)
        sys.exit(1)
"""


def test_workers_thaw_before_their_supervisor_so_it_finds_them_alive(detached):
    c = detached(["python3", "-c", SUPERVISOR])
    wait_for(_said(c, "ready"), timeout=20, what="the supervisor and its worker")
    freezer.freeze(c.id)
    time.sleep(1.5)  # longer than the supervisor's patience
    freezer.thaw(c.id)
    time.sleep(0.5)  # a few of its checks
    assert "killed" not in (c.dir / "stdout.log").read_text()
    assert c.is_running() and len(c.cgroup.pids()) >= 3  # PID 1, the supervisor, its worker


def test_freezing_a_container_that_is_gone_is_a_clear_error(cid):
    name = cid()
    try:
        freezer.freeze(name)
    except Exception as exc:  # noqa: BLE001 - the kind is what is asserted
        assert type(exc).__name__ == "CgroupError"
    finally:
        freezer.remove(name)
    assert not freezer.is_frozen(name)
