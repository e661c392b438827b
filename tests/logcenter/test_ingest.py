"""Ingest from real Redis streams into a real store: acks, redelivery, rate limit, hostile lines, search."""

import gc
import threading
import time
import weakref
from datetime import datetime, timezone

import pytest
import redis as redis_lib

from paas.logcenter import query, schema
from paas.logcenter.ingest import GROUP, Ingest
from paas.logcenter.intake import Intake

NOW_US = lambda: int(time.time() * 1e6)  # noqa: E731


def write(client, prefix, app, line, **fields):
    fields = schema.entry(app=app, source=fields.pop("source", "app"), line=line, **fields)
    return client.xadd(schema.stream_key(prefix, app), fields)


def make_worker(client, store, prefix, consumer, rate_limit=5000, **options):
    """An ingest worker handing its batches to a store owner's intake in this process (as paas-logs' own)."""
    return Ingest(client, Intake(store, rate_limit).accept, prefix, consumer, **options)


def drain(ingest, deadline_s=30.0):
    """Run the ingest until a pass stores nothing (bounded)."""
    deadline = time.monotonic() + deadline_s
    total = 0
    while time.monotonic() < deadline:
        ingest._discovered = 0.0
        stored = ingest.run_once(block_ms=50)
        total += stored
        if not stored:
            return total
    raise AssertionError("ingest did not settle")


def search(store, app, q="", limit=100, cursor=None):
    return store.search(app, query.parse(q), NOW_US() - 3600_000_000, NOW_US() + 1_000_000, limit,
                        query.parse_cursor(cursor) if cursor else None)


def test_lines_are_stored_once_and_acknowledged(store, streams):
    client, prefix = streams
    for i in range(50):
        write(client, prefix, "alpha", f"line {i} hello", process="web.1", instance="i-1", release="v2")
    ingest = make_worker(client, store, prefix, "c1", rate_limit=5000)
    assert drain(ingest) == 50
    assert client.xpending(schema.stream_key(prefix, "alpha"), GROUP)["pending"] == 0
    rows = search(store, "alpha", "hello")
    assert len(rows) == 50 and rows[0]["line"] == "line 49 hello"
    assert rows[0]["release"] == "v2" and rows[0]["process"] == "web.1"


def test_a_crash_between_store_and_ack_stores_nothing_twice(store, streams):
    client, prefix = streams
    for i in range(20):
        write(client, prefix, "beta", f"before crash {i}")
    first = make_worker(client, store, prefix, "c1", rate_limit=5000)
    first.discover()
    # What run_once does up to the crash: read and store, then die before XACK.
    got = first.read(50) or first.read(50)
    for key, entries, _ in got:
        rows, ids = first.rows(key, entries)
        store.insert_rows(rows, ids)
    assert client.xpending(schema.stream_key(prefix, "beta"), GROUP)["pending"] == 20
    write(client, prefix, "beta", "after restart")
    again = make_worker(client, store, prefix, "c1", rate_limit=5000)    # the same consumer name, as after a restart
    drain(again)
    rows = search(store, "beta", limit=1000)
    assert sorted(r["line"] for r in rows) == sorted([f"before crash {i}" for i in range(20)] + ["after restart"])
    assert client.xpending(schema.stream_key(prefix, "beta"), GROUP)["pending"] == 0


def test_a_failed_ack_of_one_stream_still_acks_the_others_and_leaves_the_connection_clean(store, streams):
    client, prefix = streams
    for app in ("alpha", "beta", "gamma"):
        for i in range(5):
            write(client, prefix, app, f"{app} {i}")
    ingest = make_worker(client, store, prefix, "c1", rate_limit=5000)
    ingest.discover()
    batch = ingest.gather(50)
    assert len(batch.rows) == 15
    client.delete(schema.stream_key(prefix, "beta"))   # its XACK gets an error reply (XACK of no group is 0)
    client.set(schema.stream_key(prefix, "beta"), "not a stream")
    with pytest.raises(redis_lib.ResponseError, match="WRONGTYPE"):
        ingest.commit(batch)
    for app in ("alpha", "gamma"):   # acknowledged although a stream before them failed
        assert client.xpending(schema.stream_key(prefix, app), GROUP)["pending"] == 0
    # Every reply was read: the pooled connection answers the next commands with their own replies.
    assert client.ping() is True and client.xlen(schema.stream_key(prefix, "gamma")) == 5
    assert len(search(store, "alpha")) == 5


def test_rate_limit_drops_with_a_counted_marker_and_others_are_untouched(store, streams):
    client, prefix = streams
    pipe = client.pipeline(transaction=False)
    for i in range(300):
        pipe.xadd(schema.stream_key(prefix, "flood"), schema.entry(app="flood", source="app", line=f"spam {i}",
                                                                   instance="f-1"))
    pipe.execute()
    write(client, prefix, "quiet", "a quiet line", instance="q-1")
    intake = Intake(store, 100)
    ingest = Ingest(client, intake.accept, prefix, "c1")
    drain(ingest)
    assert search(store, "quiet", "quiet")[0]["line"] == "a quiet line"
    kept = search(store, "flood", "spam", limit=1000)
    # The marker is written once the flood's second has passed (paas-logs flushes every second).
    deadline = time.monotonic() + 10
    while not (markers := search(store, "flood", '"over the rate limit"')) and time.monotonic() < deadline:
        intake.flush()
        time.sleep(0.05)
    dropped = sum(int(m["line"].split("dropped ")[1].split()[0]) for m in markers)
    assert ingest.dropped == 300 - len(kept) and dropped == ingest.dropped and len(kept) >= 100
    assert all(m["source"] == "platform" and m["level"] == "warn" for m in markers)


def test_hostile_lines(store, streams):
    client, prefix = streams
    key = schema.stream_key(prefix, "evil")
    client.xadd(key, {"ts": "not a time", "app": "someone-else", "source": "router", "line": b"x" * (10 << 20)})
    client.xadd(key, {"line": b"nul\x00 and \xff\xfe bad utf8", "source": "app"})
    client.xadd(key, {"line": "\x1b[31mred\x1b[0m alert", "source": "app"})
    drain(make_worker(client, store, prefix, "c1", rate_limit=5000))
    rows = search(store, "evil", limit=10)
    assert len(rows) == 3 and all(r["app"] == "evil" for r in rows)   # the stream names the app, not a field
    big = next(r for r in rows if r["line"].startswith("xxx"))
    assert len(big["line"]) < schema.MAX_LINE + 40 and "[cut: " in big["line"]
    assert search(store, "evil", "utf8")[0]["line"] == "nul\ufffd and \ufffd\ufffd bad utf8"
    colour = search(store, "evil", "red alert")
    assert colour and colour[0]["line"] == "\x1b[31mred\x1b[0m alert"   # kept for display, found by words
    assert search(store, "someone-else") == []


def test_router_lines_are_searchable_by_field(store, streams):
    client, prefix = streams
    for status, rid, path in ((200, "rid-ok-1", "/users/7"), (404, "rid-missing-2", "/nothing"),
                              (503, "rid-down-3", "/api/slow")):
        line = (f'at=info method=GET path="{path}" host=web.example request_id={rid} fwd="10.0.0.1" '
                f"instance=web-1 duration={status / 10:.1f}ms status={status} bytes=12")
        if status == 404:   # as the router writes now: schema.ROUTER_FIELDS, the rest implied
            client.xadd(schema.stream_key(prefix, "web"), {"ts": schema.now_rfc3339(), "release": "v4",
                                                           "source": "router", "line": line})
        else:               # as it wrote before
            write(client, prefix, "web", line, source="router", process="router", release="v4")
    write(client, prefix, "web", "handled rid-down-3 slowly", request_id="rid-down-3", process="web.1")
    drain(make_worker(client, store, prefix, "c1", rate_limit=5000))
    assert [r["path"] for r in search(store, "web", "status:>=500")] == ["/api/slow"]
    assert [r["status"] for r in search(store, "web", "status:404")] == [404]
    assert [r["path"] for r in search(store, "web", "users")] == ["/users/7"]
    assert {r["source"] for r in search(store, "web", "request_id:rid-down-3")} == {"router", "app"}
    assert search(store, "web", "request_id:rid-down-3 source:router")[0]["request_id"] == "rid-down-3"
    assert [r["path"] for r in search(store, "web", "duration:>40 -path:/api")] == ["/nothing"]
    assert len(search(store, "web", "-status:>=400 release:v4 method:get")) == 1
    assert search(store, "web", "process:web")[0]["line"] == "handled rid-down-3 slowly"
    routed = search(store, "web", "process:router")
    assert len(routed) == 3 and {(r["app"], r["source"], r["release"]) for r in routed} == {("web", "router", "v4")}


def test_paging_newest_first_with_a_cursor(store, streams):
    client, prefix = streams
    for i in range(25):
        write(client, prefix, "pages", f"page line {i:02d}")
    drain(make_worker(client, store, prefix, "c1", rate_limit=5000))
    seen, cursor = [], None
    for _ in range(5):
        rows = search(store, "pages", "page", limit=11)
        rows = store.search("pages", query.parse("page"), NOW_US() - 3600_000_000, NOW_US() + 1_000_000, 10,
                            query.parse_cursor(cursor) if cursor else None)
        seen += [r["line"] for r in rows]
        if len(rows) < 10:
            break
        last = rows[-1]
        cursor = query.make_cursor(int(last["micros"]), last["entry_id"])
    assert seen == [f"page line {i:02d}" for i in reversed(range(25))]


def test_retention_drops_whole_old_partitions(store):
    old = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # Lines kept longer than the partitions last (else the engine's TTL may take this one first, in any merge).
    store.set_retention({}, 1000)
    store.insert([schema.Record(time=old, app="r", source="app", line="ancient"),
                  schema.Record(time=datetime.now(timezone.utc), app="r", source="app", line="fresh")], ["1-0", "2-0"])
    assert store.drop_older_than(30) == ["20260101"]
    assert [r["line"] for r in store.query("SELECT line FROM logcenter.lines")] == ["fresh"]


def test_with_no_stream_to_block_on_a_pass_waits_instead_of_spinning(store, streams):
    client, prefix = streams
    waits = []
    ingest = make_worker(client, store, prefix, "c1", rate_limit=5000, idle=waits.append)
    assert ingest.run_once(block_ms=100) == 0      # no app has a stream yet
    assert waits == [0.1]
    write(client, prefix, "gamma", "one")
    ingest._discovered = 0.0
    assert ingest.run_once(block_ms=100) == 1
    # Redis came back empty: the stream it read is gone; the passes after wait again.
    client.delete(schema.stream_key(prefix, "gamma"))
    waits.clear()
    for _ in range(3):
        assert ingest.run_once(block_ms=100) == 0
    assert waits and set(waits) == {0.1}


class FailingOnce:
    """The store, except that its first insert fails (the engine out of disk, say). One chdb session serves
    one thread at a time: the test's searches take the intake's lock (as paas-logs' do)."""

    def __init__(self, store):
        self.store, self.failed = store, False
        self.intake = Intake(self, 5000)

    def insert_table(self, batch):
        if not self.failed:
            self.failed = True
            raise OSError("no space left")
        self.store.insert_table(batch)

    def stored_ids(self, app, ids):
        return self.store.stored_ids(app, ids)

    def lines(self, app):
        with self.intake.lock:
            return sorted(r["line"] for r in search(self.store, app, limit=1000))


def test_run_overlaps_batches_and_a_failed_store_loses_nothing(store, streams):
    client, prefix = streams
    for i in range(30):
        write(client, prefix, "gamma", f"first {i}")
    failing = FailingOnce(store)
    ingest = Ingest(client, failing.intake.accept, prefix, "c1")
    stop = threading.Event()
    with pytest.raises(OSError):
        ingest.run(stop, block_ms=50)      # what paas-logs' loop sees; it calls run() again
    for i in range(30):
        write(client, prefix, "gamma", f"second {i}")
    worker = threading.Thread(target=ingest.run, args=(stop, 50))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while len(failing.lines("gamma")) < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join()
    assert failing.lines("gamma") == sorted([f"first {i}" for i in range(30)] + [f"second {i}" for i in range(30)])
    assert client.xpending(schema.stream_key(prefix, "gamma"), GROUP)["pending"] == 0


def test_tail_follows_stream_order_whatever_the_lines_own_times(store, streams):
    client, prefix = streams
    write(client, prefix, "tailed", "first match")
    drain(make_worker(client, store, prefix, "c1", rate_limit=5000))
    start = store.tail("tailed", query.parse("match"), query.parse_after("0-0"), 10)
    after = query.parse_after(start[-1]["entry_id"])
    # A writer whose clock is behind: its line is older by its own time, newer in the stream.
    behind = datetime.fromtimestamp(time.time() - 30, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    write(client, prefix, "tailed", "late match", ts=behind)
    write(client, prefix, "tailed", "no")
    write(client, prefix, "tailed", "next match")
    drain(make_worker(client, store, prefix, "c1", rate_limit=5000))
    rows = store.tail("tailed", query.parse("match"), after, 10)
    assert [r["line"] for r in rows] == ["late match", "next match"]
    assert query.parse_after("1700000000000-12-dropped") == (1700000000000, 12)
    with pytest.raises(query.QueryError, match="after: wants"):
        query.parse_after("x-1")


def test_a_dead_consumers_pending_entries_are_claimed_once_and_a_live_ones_left_alone(store, streams):
    client, prefix = streams
    key = schema.stream_key(prefix, "claimed")
    for i in range(30):
        write(client, prefix, "claimed", f"claim me {i}")
    dead = make_worker(client, store, prefix, "host-a", rate_limit=5000)
    dead.discover()
    got = dead.read(50) or dead.read(50)
    # host-a stored the first 10 of its 30 entries, then died: neither those nor the others acknowledged.
    (stream, entries, _), = got
    rows, ids = dead.rows(stream, entries[:10])
    store.insert_rows(rows, ids)
    patient = make_worker(client, store, prefix, "host-b", rate_limit=5000, claim_idle_s=60)
    assert drain(patient) == 0 and patient.claimed == 0    # 60 s not over: host-a may still be storing them
    taker = make_worker(client, store, prefix, "host-c", rate_limit=5000, claim_idle_s=0)
    assert drain(taker) == 20 and taker.claimed == 30
    assert sorted(r["line"] for r in search(store, "claimed", limit=100)) == sorted(f"claim me {i}" for i in range(30))
    assert client.xpending(key, GROUP)["pending"] == 0
    # A consumer never claims its own entries (they may be its batch being stored).
    write(client, prefix, "claimed", "mine")
    taker.discover()
    assert taker.read(50) and taker.claim() == []


def test_while_run_ingests_the_collector_runs_on_a_timer_and_is_restored_after(store, streams):
    client, prefix = streams
    write(client, prefix, "alpha", "one line")
    ingest = make_worker(client, store, prefix, "c1", rate_limit=5000)
    stop = threading.Event()
    worker = threading.Thread(target=ingest.run, args=(stop,), kwargs={"block_ms": 20, "collect_every_s": 0.05})
    assert gc.isenabled()
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while ingest.stored < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not gc.isenabled()     # off while it ingests ...

        class Cycle:
            pass

        garbage = Cycle()
        garbage.me = garbage          # ... yet a cycle another thread leaves is collected: by the timer
        gone = weakref.ref(garbage)
        del garbage
        while gone() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gone() is None
    finally:
        stop.set()
        worker.join()
    assert gc.isenabled() and ingest.stored == 1


def test_a_read_of_more_than_a_batch_may_hold_goes_to_the_owner_in_parts(store, streams):
    """200 lines of 64 KiB of invalid UTF-8 (each stored as 192 KiB of U+FFFD) are ~38 MiB: more than one
    batch may hold on the wire (wire.BATCH_BYTES), so the worker hands them over in parts, each within it."""
    from paas.logcenter import wire

    client, prefix = streams
    pipe = client.pipeline(transaction=False)
    for i in range(200):
        pipe.xadd(schema.stream_key(prefix, "wide"), {"source": "app", "line": b"\xff" * schema.MAX_LINE})
    pipe.execute()
    intake, sizes = Intake(store, 5000), []

    def deliver(batch):
        sizes.append(batch.nbytes)
        return intake.take(batch)

    drain(Ingest(client, deliver, prefix, "c1"))
    assert len(sizes) > 1 and max(sizes) <= wire.BATCH_BYTES
    assert store.query("SELECT count() AS n FROM logcenter.lines WHERE app = 'wide'") == [{"n": 200}]
    assert client.xpending(schema.stream_key(prefix, "wide"), GROUP)["pending"] == 0


def test_the_owner_stores_an_entry_delivered_twice_once_in_either_order(store):
    """A batch of redelivered entries (``again``) and the first delivery's batch, in both orders: a stalled
    worker's batch arriving after another claimed and stored the same entries is left out too."""
    from paas.logcenter import wire

    intake = Intake(store, 5000)
    now_ms = int(time.time() * 1000)
    rows = [schema.Record(time=datetime.now(timezone.utc), app="twice", source="router", line=f"l{i}").row()
            for i in range(20)]
    ids = [f"{now_ms}-{i}" for i in range(20)]
    assert intake.take(wire.table(rows[:10], ids[:10])) == {"stored": 10, "duplicates": 0, "dropped": 0}
    # Stored, then delivered again (a crash before XACK): left out by the store lookup.
    assert intake.take(wire.table(rows[:10], ids[:10], again=True))["duplicates"] == 10
    # Claimed and stored first, then the stalled first delivery: left out by the ids remembered.
    assert intake.take(wire.table(rows[10:], ids[10:], again=True))["stored"] == 10
    assert intake.take(wire.table(rows[10:], ids[10:]))["duplicates"] == 10
    counts = store.query("SELECT count() AS n, uniqExact(entry_id) AS once FROM logcenter.lines WHERE app = 'twice'")
    assert counts == [{"n": 20, "once": 20}]


def test_the_rate_limit_counts_each_second_whatever_order_its_lines_come_in():
    """Two workers hand over parts of one stream in any order: second 10's lines after second 11's still
    count against second 10's limit; the marker of each second counts its drops."""
    from paas.logcenter.intake import RateLimit

    limit = RateLimit(3)
    ids = [f"{second * 1000 + n}-0" for second, n in ((10, 0), (10, 1), (11, 0), (10, 2), (11, 1), (10, 3), (10, 4))]
    assert [limit.admit("a", "i-1", i) for i in ids] == [True, True, True, True, True, False, False]
    rows, marker_ids = limit.markers(before=12)
    assert marker_ids == ["10004-0-dropped"] and "dropped 2 lines of instance i-1" in rows[0][-1]
    assert limit.markers(before=12) == ([], [])
    # An instance quiet for 10 minutes of other lines is forgotten (its counts no longer matter).
    assert limit.admit("a", "i-2", "710000-0") and list(limit.counts) == [("a", "i-1"), ("a", "i-2")]
    limit.markers(before=711)
    assert list(limit.counts) == [("a", "i-2")]
