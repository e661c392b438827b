"""Stateless ingest workers (real ``paas-logs-ingest`` processes) handing batches to one store owner (a real
``paas-logs``) over TCP: every line stored once whatever worker dies, the rate limit counted over all of them."""

import signal
import time
from urllib.parse import urlsplit, urlunsplit

from paas.logcenter import schema
from paas.logcenter.ingest import GROUP
from tests.logcenter.process import counted, start_owner, start_worker, stop
from tests.waiting import wait_for

APPS = ("north", "south", "east")


def write_lines(client, prefix: str, count: int, apps=APPS) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        app = apps[i % len(apps)]
        pipe.xadd(schema.stream_key(prefix, app), schema.entry(app=app, source="app", line=f"line {i}",
                                                               instance=f"{app}-1"))
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    return [schema.stream_key(prefix, app).encode() for app in apps]


def all_acknowledged(client, keys: list[bytes]) -> bool:
    """Every entry of every stream read through the group and acknowledged."""
    for key in keys:
        groups = client.xinfo_groups(key)
        if not groups or groups[0]["pending"] or (groups[0]["entries-read"] or 0) < client.xlen(key):
            return False
    return True


def logs_of(tmp_path, *names) -> str:
    return "\n".join((tmp_path / f"{name}.log").read_text()[-2000:] for name in names if (tmp_path / f"{name}.log").exists())


def test_two_workers_store_every_line_of_several_apps_once(tmp_path, streams):
    client, prefix = streams
    keys = write_lines(client, prefix, 30_000)
    owner, address = start_owner(tmp_path, prefix, PAAS_LOG_RATE_LIMIT="1000000")
    workers = []
    try:
        workers = [start_worker(tmp_path, prefix, address, name) for name in ("w1", "w2")]
        wait_for(lambda: all_acknowledged(client, keys) or any(p.poll() is not None for p in [owner, *workers]),
                 120, "both workers to have every line stored and acknowledged")
        assert all(p.poll() is None for p in [owner, *workers]), logs_of(tmp_path, "owner", "w1", "w2")
        consumers = {c["name"] for key in keys for c in client.xinfo_consumers(key, GROUP)}
        assert consumers == {b"w1", b"w2"}
    finally:
        for process in workers:
            stop(process)
        stop(owner)
    assert counted(tmp_path) == {"n": 30_000, "once": 30_000, "lines": 30_000}


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(tmp_path, streams):
    client, prefix = streams
    lines = 60_000
    keys = write_lines(client, prefix, lines)
    owner, address = start_owner(tmp_path, prefix, PAAS_LOG_RATE_LIMIT="1000000")
    first = second = None
    try:
        first = start_worker(tmp_path, prefix, address, "w1")

        # Killed once the owner stored some of its lines and it holds entries read but not acknowledged.
        def midway():
            infos = [client.xinfo_groups(k) for k in keys]
            return all(infos) and any(i[0]["pending"] for i in infos) and any(
                (i[0]["entries-read"] or 0) > i[0]["pending"] for i in infos)
        wait_for(lambda: midway() or first.poll() is not None, 60, "w1 midway through", interval=0.005)
        assert first.poll() is None, logs_of(tmp_path, "owner", "w1")
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert sum(client.xpending(k, GROUP)["pending"] for k in keys) > 0
        # Another worker (another host's name) takes w1's entries over once they are idle a second.
        second = start_worker(tmp_path, prefix, address, "w2", PAAS_LOG_CLAIM_IDLE="1")
        wait_for(lambda: all_acknowledged(client, keys) or second.poll() is not None or owner.poll() is not None,
                 120, "w2 to take over and acknowledge everything")
        assert second.poll() is None and owner.poll() is None, logs_of(tmp_path, "owner", "w2")
        assert "claimed" in (tmp_path / "w2.log").read_text()
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)
        stop(owner)
    assert counted(tmp_path) == {"n": lines, "once": lines, "lines": lines}


def test_the_rate_limit_holds_across_two_workers(tmp_path, streams):
    """One instance floods one second through both workers: 500 of its 2,000 lines kept, a marker counts
    the 1,500 dropped, and another app's line is untouched."""
    client, prefix = streams
    key = schema.stream_key(prefix, "flood")
    second_ms = (int(time.time()) - 5) * 1000      # every entry in one second Redis accepted them in
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.xadd(key, schema.entry(app="flood", source="app", line=f"spam {i}", instance="f-1"),
                  id=f"{second_ms + i // 100}-{i}")
    pipe.execute()
    client.xadd(schema.stream_key(prefix, "quiet"), schema.entry(app="quiet", source="app", line="a quiet line",
                                                                 instance="q-1"))
    # The first half delivered to w1 (as if it read them and restarted): w1 takes those, w2 the rest.
    client.xgroup_create(key, GROUP, id="0")
    assert len(client.xreadgroup(GROUP, "w1", {key: ">"}, count=1000)[0][1]) == 1000
    owner, address = start_owner(tmp_path, prefix, PAAS_LOG_RATE_LIMIT="500")
    workers = []
    keys = [key.encode(), schema.stream_key(prefix, "quiet").encode()]
    try:
        workers = [start_worker(tmp_path, prefix, address, name) for name in ("w1", "w2")]
        wait_for(lambda: all_acknowledged(client, keys) or any(p.poll() is not None for p in [owner, *workers]),
                 60, "every line read and acknowledged")
        assert all(p.poll() is None for p in [owner, *workers]), logs_of(tmp_path, "owner", "w1", "w2")
        assert {c["name"] for c in client.xinfo_consumers(key, GROUP)} == {b"w1", b"w2"}
    finally:
        for process in workers:
            stop(process)
        stop(owner)      # its last flush reports drops no batch reported yet
    assert counted(tmp_path, "app = 'flood' AND source = 'app'")["n"] == 500
    assert counted(tmp_path, "app = 'quiet'")["n"] == 1
    from paas.logcenter.store import Store

    store = Store(tmp_path / "logcenter" / "store")
    try:
        markers = [r["line"] for r in store.query("SELECT line FROM logcenter.lines WHERE app = 'flood' AND "
                                                  "source = 'platform' AND level = 'warn'")]
    finally:
        store.close()
    assert sum(int(m.split("dropped ")[1].split()[0]) for m in markers) == 1500, markers
    assert all("of instance f-1 over the rate limit of 500 lines/s" in m for m in markers)


def ask_raw(address, payload: bytes) -> dict:
    """One request's raw bytes to the owner, its answer line."""
    import json
    import socket

    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        answer = sock.makefile("rb").readline(4096)
    return json.loads(answer) if answer else {}


def test_batches_without_the_token_malformed_or_oversized_are_refused_and_nothing_is_stored(tmp_path, streams):
    from paas.logcenter import wire
    from tests.logcenter.process import TOKEN

    client, prefix = streams
    owner, address = start_owner(tmp_path, prefix)
    now_ms = int(time.time() * 1000)
    now = schema.entry_time(f"{now_ms}-0".encode())

    def batch(line="fine", entry_id=f"{now_ms}-1", app="hostile"):
        return wire.encode(wire.table([schema.Record(time=now, app=app, source="app", line=line).row()], [entry_id]))

    def request(body: bytes, token=TOKEN, size=None) -> bytes:
        return wire.head(token, "evil", len(body) if size is None else size) + body

    good = batch()
    try:
        refused = {
            "no token": (request(good, token=""), "wrong or missing token"),
            "wrong token": (request(good, token=TOKEN[:-1] + "y"), "wrong or missing token"),
            "header not JSON": (b"GET / HTTP/1.1\r\n\r\n", "the header is not JSON"),
            "endless header": (b"{" * (wire.MAX_HEAD + 10), f"a header line of at most {wire.MAX_HEAD} bytes"),
            "oversized": (request(b"", size=wire.MAX_BODY + 1), f"bytes must be 1 to {wire.MAX_BODY}"),
            "short body": (request(good[:100], size=len(good)), f"100 of {len(good)} bytes arrived"),
            "not Arrow": (request(b"\xff" * 1000), "not an Arrow stream"),
            "10 MB line": (request(batch(line="x" * (10 << 20))), f"a line of {10 << 20} bytes, at most"),
            "bad entry id": (request(batch(entry_id="1-2-3; DROP")), "an entry_id that is not a stream entry id"),
            "long app": (request(batch(app="a" * 5000)), "a app of 5000 bytes"),
        }
        import pyarrow as pa
        other = pa.table({"line": ["not the wire's columns"]})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, other.schema) as writer:
            writer.write_table(other)
        refused["other columns"] = (request(sink.getvalue().to_pybytes()), "columns are not the wire's")
        for name, (payload, error) in refused.items():
            answer = ask_raw(address, payload)
            assert error in answer.get("error", ""), (name, answer)
        # With the token and a batch a worker makes: stored (the owner is unharmed).
        assert wire.Client(address, TOKEN, "good").send(wire.decode(good)) == {"stored": 1, "duplicates": 0,
                                                                             "dropped": 0}
        assert owner.poll() is None
    finally:
        stop(owner)
    assert counted(tmp_path) == {"n": 1, "once": 1, "lines": 1}


def test_no_namespace_reaches_the_owners_batch_port(tmp_path, streams):
    """Builds and instances run in network namespaces of their own, with a route to this host (here another
    "host" joined by a veth pair, as tests/hostnet.py makes): the owner's default loopback port is not
    reachable from there at any address of this machine."""
    from tests.hostnet import OtherHost
    from tests.netsandbox import host_addresses

    client, prefix = streams
    owner, address = start_owner(tmp_path, prefix)
    other = OtherHost("ingest").create()
    try:
        assert address[0] == "127.0.0.1"
        targets = ["127.0.0.1", other.our_address, *host_addresses()]
        probe = ("import socket, sys\n"
                 "for host in sys.argv[2:]:\n"
                 "    try:\n"
                 "        socket.create_connection((host, int(sys.argv[1])), timeout=2).close(); print('reached', host)\n"
                 "    except OSError as exc:\n"
                 "        print('not reached', host)\n")
        result = other.run("python3", "-c", probe, str(address[1]), *targets)
        assert result.returncode == 0, result.stderr
        assert sorted(result.stdout.split("\n")[:-1]) == sorted(f"not reached {t}" for t in targets)
        # From this machine it is there (the probe could have reached it).
        import socket
        socket.create_connection(address, timeout=2).close()
    finally:
        other.remove()
        stop(owner)


def test_a_worker_on_another_host_ingests_through_the_owners_address(tmp_path, streams):
    """A worker in another network (a namespace joined by a veth pair) reaches Redis and the owner only at
    this machine's address on that link: its lines are stored once."""
    from paas.runtime import config
    from tests.hostnet import OtherHost, Relay

    client, prefix = streams
    keys = write_lines(client, prefix, 3000)
    other = OtherHost("worker").create()
    relay = owner = worker = None
    try:
        url = urlsplit(config.redis_url())
        relay = Relay(other.our_address, url.port or 6379)
        userinfo = url.netloc.rpartition("@")[0]
        far_redis = url._replace(netloc=f"{userinfo + '@' if userinfo else ''}{other.our_address}:{relay.port}")
        owner, address = start_owner(tmp_path, prefix, PAAS_LOG_INGEST_BIND=f"{other.our_address}:0")
        worker = start_worker(tmp_path, prefix, address, "far", argv_prefix=other.argv(),
                              REDIS_URL=urlunsplit(far_redis))
        wait_for(lambda: all_acknowledged(client, keys) or worker.poll() is not None or owner.poll() is not None,
                 60, "the far worker to have every line stored")
        assert worker.poll() is None and owner.poll() is None, logs_of(tmp_path, "owner", "far")
    finally:
        for process in (worker, owner):
            if process is not None:
                stop(process)
        if relay is not None:
            relay.close()
        other.remove()
    assert counted(tmp_path) == {"n": 3000, "once": 3000, "lines": 3000}


def test_the_store_owner_killed_mid_batch_and_restarted_loses_and_doubles_nothing(tmp_path, streams):
    """The worker's hand-over fails with the owner gone (maybe after its insert, before its answer): it reads
    its own pending entries again and hands them to the restarted owner, which leaves out those it stored."""
    import socket

    client, prefix = streams
    lines = 60_000
    keys = write_lines(client, prefix, lines)
    with socket.socket() as probe:     # one port for both owners: the worker's address does not change
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bind = {"PAAS_LOG_INGEST_BIND": f"127.0.0.1:{port}", "PAAS_LOG_RATE_LIMIT": "1000000"}
    owner, address = start_owner(tmp_path, prefix, **bind)
    worker = None
    try:
        worker = start_worker(tmp_path, prefix, address, "w1")

        def midway():
            infos = [client.xinfo_groups(k) for k in keys]
            return all(infos) and any((i[0]["entries-read"] or 0) > i[0]["pending"] for i in infos)
        wait_for(lambda: midway() or owner.poll() is not None or worker.poll() is not None, 60,
                 "some lines stored and acknowledged", interval=0.005)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        (tmp_path / "logcenter" / "ingest-address").unlink()
        owner, _ = start_owner(tmp_path, prefix, **bind)
        wait_for(lambda: all_acknowledged(client, keys) or owner.poll() is not None or worker.poll() is not None,
                 120, "the worker to hand everything to the restarted owner")
        assert owner.poll() is None and worker.poll() is None, logs_of(tmp_path, "owner", "w1")
    finally:
        if worker is not None:
            stop(worker)
        stop(owner)
    assert counted(tmp_path) == {"n": lines, "once": lines, "lines": lines}
