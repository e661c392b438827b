"""App log lines across a Redis outage (runtime/logs.py, logledger.py, logspool.py): with the real
Redis of the suite, and "Redis away" a client of a port where nothing listens (a real refused
connection). Every numbered line arrives once or is counted by the one marker line."""

import os
import re
import uuid
from pathlib import Path

import pytest
import redis as redis_lib

from paas.runtime import config, logledger, logs, logspool
from tests.e2e.platform_procs import free_port

MARKER = re.compile(r"\[paas: (\d+) lines of stdout dropped while the log service was unreachable\]")


@pytest.fixture
def shipping(tmp_path):
    """(live client, a client of a Redis that is away, instance directory, labels); cleaned up after."""
    live = redis_lib.Redis.from_url(config.redis_url())
    away = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    cid = f"bk{uuid.uuid4().hex[:10]}"
    labels = {"app": f"backlog-{uuid.uuid4().hex[:8]}", "release": "v1", "process": "web.1"}
    directory = tmp_path / cid
    directory.mkdir()
    yield live, away, directory, labels
    live.delete(logs.stream_key(labels["app"]))
    logs.forget(live, cid)
    logspool.remove(logspool.spool_dir() / cid)
    logspool.forgiven(cid)


def write(directory: Path, first: int, last: int) -> None:
    with open(directory / "stdout.log", "a") as f:
        f.writelines(f"line {n:06d}\n" for n in range(first, last))


def arrived(live, app: str) -> tuple[list[int], list[int]]:
    """(numbers of the lines in the stream, in order; counts of the markers)."""
    numbers, markers = [], []
    for _, fields in live.xrange(logs.stream_key(app)):
        line = fields[b"line"].decode()
        if line.startswith("line "):
            numbers.append(int(line[5:]))
        elif (m := MARKER.fullmatch(line)) is not None:
            assert fields[b"source"] == b"platform" and fields[b"level"] == b"warn"
            markers.append(int(m.group(1)))
    return numbers, markers


def test_lines_written_while_redis_is_away_arrive_once_it_is_back(shipping):
    live, away, directory, labels = shipping
    cid = directory.name
    write(directory, 0, 100)
    assert logs.ship(live, cid, directory, labels) == 100
    write(directory, 100, 250)
    with pytest.raises(redis_lib.ConnectionError):
        logs.ship(away, cid, directory, labels)
    assert logs.ship(live, cid, directory, labels) == 150
    assert logs.ship(live, cid, directory, labels) == 0
    assert arrived(live, labels["app"]) == (list(range(250)), [])


def test_a_redis_back_empty_is_not_sent_every_line_again(shipping):
    live, away, directory, labels = shipping
    cid = directory.name
    write(directory, 0, 100)
    logs.ship(live, cid, directory, labels)
    write(directory, 100, 120)
    # Restarted with nothing on disk: no offsets, no stream.
    live.hdel(logs.OFFSETS_KEY, logs.offset_field(cid, "stdout"))
    live.delete(logs.stream_key(labels["app"]))
    assert logs.ship(live, cid, directory, labels) == 20
    assert arrived(live, labels["app"]) == (list(range(100, 120)), [])


def test_a_long_outage_keeps_a_bounded_backlog_and_one_marker_counts_the_rest(shipping, monkeypatch):
    live, away, directory, labels = shipping
    cid = directory.name
    # Small enough for what is kept to fit the app's stream (MAXLEN 10,000 entries).
    monkeypatch.setattr(logledger, "BACKLOG_BYTES", 64 << 10)
    write(directory, 0, 10)
    logs.ship(live, cid, directory, labels)
    # About 720 kB while Redis is away, over several passes.
    for first in range(10, 60_010, 10_000):
        write(directory, first, first + 10_000)
        with pytest.raises(redis_lib.ConnectionError):
            logs.ship(away, cid, directory, labels)
    path = directory / "stdout.log"
    waiting = path.stat().st_size - logledger.load(directory, "stdout").offset
    assert waiting <= 64 << 10
    assert path.stat().st_blocks * 512 < 256 << 10   # the dropped part's disk given back
    write(directory, 60_010, 60_020)
    logs.ship(live, cid, directory, labels)
    numbers, markers = arrived(live, labels["app"])
    # Every number arrived once or was counted: the oldest were dropped, the newest kept.
    assert len(markers) == 1
    assert numbers == sorted(set(numbers))
    assert len(numbers) + markers[0] == 60_020
    assert numbers[:10] == list(range(10)) and numbers[-1] == 60_019
    assert numbers[10] == 10 + markers[0]
    # Shipped once: the marker is not written again.
    write(directory, 60_020, 60_021)
    logs.ship(live, cid, directory, labels)
    assert arrived(live, labels["app"])[1] == markers


def test_an_agent_restarted_after_the_marker_commit_does_not_repeat_it(shipping, monkeypatch):
    live, away, directory, labels = shipping
    cid = directory.name
    monkeypatch.setattr(logledger, "BACKLOG_BYTES", 1000)
    write(directory, 0, 500)
    with pytest.raises(redis_lib.ConnectionError):
        logs.ship(away, cid, directory, labels)
    stale = logledger.load(directory, "stdout")
    logs.ship(live, cid, directory, labels)
    # The agent died after the commit, before writing its ledger: the old ledger is back.
    logledger.save(directory, "stdout", stale)
    write(directory, 500, 510)
    logs.ship(live, cid, directory, labels)
    numbers, markers = arrived(live, labels["app"])
    assert len(markers) == 1 and len(numbers) + markers[0] == 510
    assert numbers == sorted(set(numbers))


def test_an_instance_that_ends_while_redis_is_away_keeps_its_last_lines(shipping):
    live, away, directory, labels = shipping
    cid = directory.name
    write(directory, 0, 50)
    logs.ship(live, cid, directory, labels)
    write(directory, 50, 80)
    with open(directory / "stdout.log", "a") as f:
        f.write("last words without newline")
    with pytest.raises(redis_lib.ConnectionError):
        logs.ship_final(away, cid, directory, labels)
    for name in os.listdir(directory):   # the agent removes the instance
        os.unlink(directory / name)
    directory.rmdir()
    assert logs.ship_spooled(live) >= 31
    assert not (logspool.spool_dir() / cid).exists()
    numbers, _ = arrived(live, labels["app"])
    assert numbers == list(range(80))
    last = live.xrevrange(logs.stream_key(labels["app"]), count=1)[0][1]
    assert last[b"line"] == b"last words without newline"


def test_an_instance_restarted_under_its_name_after_ending_while_redis_was_away_loses_nothing(shipping):
    live, away, directory, labels = shipping
    cid = directory.name
    write(directory, 0, 200)
    logs.ship(live, cid, directory, labels)
    write(directory, 200, 230)
    with pytest.raises(redis_lib.ConnectionError):
        logs.ship_final(away, cid, directory, labels)
    logs.forget(away, cid)                   # the agent removes it, Redis still away
    for name in os.listdir(directory):
        os.unlink(directory / name)
    write(directory, 1000, 1500)             # the same name runs again: its files start at 0
    logs.ship(live, cid, directory, labels)
    logs.ship_spooled(live)
    numbers, _ = arrived(live, labels["app"])
    assert sorted(numbers) == list(range(230)) + list(range(1000, 1500))
    assert not logspool.owed_forgets() or cid not in logspool.owed_forgets()


def test_a_ledger_that_is_not_a_plain_file_of_numbers_is_ignored(tmp_path):
    (tmp_path / "elsewhere").write_text("999999 0 0\n")
    os.symlink(tmp_path / "elsewhere", logledger.path_of(tmp_path, "stdout"))
    assert logledger.load(tmp_path, "stdout") == logledger.Ledger()
    logledger.path_of(tmp_path, "stderr").write_bytes(b"1 2 3" + b" " * 200)
    assert logledger.load(tmp_path, "stderr") == logledger.Ledger()
    logledger.path_of(tmp_path, "stderr").write_bytes(b"-1 2 3\n")
    assert logledger.load(tmp_path, "stderr") == logledger.Ledger()


@pytest.mark.parametrize("text,limit,cut,count", [
    (b"aa\nbb\ncc\n", 3, 6, 2),        # keep at most 3 bytes: cc
    (b"aa\nbb\ncc\n", 4, 6, 2),        # a cut inside bb moves on to its end
    (b"aa\nbb\ncc\n", 9, 0, 0),        # under the limit: nothing
    (b"aa\nbbbbbbbbbb", 4, 9, 2),      # a line still being written is cut where the limit says
])
def test_bound_counts_the_lines_it_drops(tmp_path, text, limit, cut, count):
    path = tmp_path / "stdout.log"
    path.write_bytes(text)
    ledger = logledger.Ledger()
    assert logledger.bound(path, ledger, len(text), limit) == (count > 0)
    assert (ledger.offset, ledger.dropped) == (cut, count)
