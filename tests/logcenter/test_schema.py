"""The one log record shape: release labels, entries, and hostile stream entries read back."""

from datetime import datetime, timezone

import pytest

from paas.logcenter import schema
from paas.logcenter.store import ROUTER_PAIRS

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def raw(**fields) -> dict:
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def test_release_has_one_spelling():
    assert schema.release_label(3) == "v3"
    assert schema.release_label(None) == "" and schema.release_label(0) == ""
    assert schema.release_version("v12") == 12
    for bad in ("", "3", "v0", "v-1", "v3 ", "V3", "v1234567890"):
        assert schema.release_version(bad) is None


def test_entry_refuses_an_unknown_source_and_keeps_the_router_fields():
    with pytest.raises(ValueError):
        schema.entry(app="a", source="nope", line="x")
    fields = schema.entry(app="a", source="platform", line="deployed")
    assert list(fields) == list(schema.FIELDS[:7])
    assert fields["release"] == "" and fields["ts"].endswith("Z")


def test_router_entries_read_the_same_with_or_without_their_implied_fields():
    line = 'at=info method=GET path="/" status=200'
    new = raw(ts="2026-12-07T10:00:00.000001Z", release="v2", source="router", line=line)
    assert sorted(new) == sorted(name.encode() for name in schema.ROUTER_FIELDS)
    old = raw(ts="2026-12-07T10:00:00.000001Z", app="demo", release="v2", process="router", source="router",
              stream="stdout", line=line)
    assert schema.row(new, RECEIVED, "demo") == schema.row(old, RECEIVED, "demo")
    assert schema.record(new, RECEIVED, "demo") == schema.record(old, RECEIVED, "demo")
    rec = schema.record(new, RECEIVED, "demo")
    assert (rec.app, rec.process, rec.source, rec.release, rec.level) == ("demo", "router", "router", "v2", "")
    decoded = {k.decode(): v.decode() for k, v in new.items()}
    assert schema.implied(decoded, "demo") == {k.decode(): v.decode() for k, v in old.items()}
    # Only router lines imply a process; what an entry sends is kept.
    assert schema.record(raw(source="app", line="x"), RECEIVED, "demo").process == ""
    assert schema.record(raw(source="router", process="web.1", line="x"), RECEIVED, "demo").process == "web.1"
    assert schema.implied({"source": "app", "app": "a"}, "demo") == {"source": "app", "app": "a"}


def stored_router_line(store, line: str, **fields) -> dict:
    """A router line as the store keeps it: its request fields are read out of the line by the engine."""
    now = datetime.now(timezone.utc)      # (a line past the retention may go in any merge)
    store.insert_rows([schema.row(raw(source="router", app="demo", process="router", line=line, **fields), now)],
                      ["1-0"])
    row, = store.query("SELECT instance, request_id, level, method, path, status, duration_ms, bytes, "
                       "if(source = 'router', " + ROUTER_PAIRS + "['request_id'], '') AS rid FROM logcenter.lines")
    return row


def test_router_line_fields(store):
    line = ('at=info method=GET path="/a b?x=1" host=demo.localhost request_id=r-1 fwd="127.0.0.1" '
            'instance=web-1 duration=12.5ms status=404 bytes=17')
    row = stored_router_line(store, line, release="v7")
    assert (row["method"], row["path"], row["status"], row["duration_ms"], row["bytes"]) == (
        "GET", "/a b?x=1", 404, 12.5, 17)
    assert row["instance"] == "web-1" and row["level"] == "info"
    assert row["request_id"] == "" and row["rid"] == "r-1"     # kept in the line only
    rec = schema.record(raw(ts="2026-11-22T00:12:03.123456Z", app="demo", release="v7", source="router", line=line),
                        RECEIVED)
    assert rec.release == "v7" and rec.time == datetime(2026, 11, 22, 0, 12, 3, 123456, tzinfo=timezone.utc)


def test_router_error_line_is_an_error(store):
    line = 'at=error code=H21 desc="Backend connection refused" method=GET path="/" status=502 bytes=0'
    row = stored_router_line(store, line)
    assert row["status"] == 502 and row["level"] == "error"


def test_hostile_entry_never_raises():
    huge = b"x" * (10 << 20)
    rec = schema.record(raw(ts="garbage", app="d\x00", source="evil", stream="stderr",
                            line=huge, release="v1" * 100), RECEIVED)
    assert rec.time == RECEIVED and rec.source == "app" and rec.level == "error"
    assert len(rec.line.encode()) < schema.MAX_LINE + 40
    assert rec.line.endswith(f"[cut: {(10 << 20) - schema.MAX_LINE} bytes more]")
    assert "\x00" not in rec.app and len(rec.release) <= 16


def test_remembered_field_values_read_as_the_first_time():
    # process, instance and host are remembered by value (schema._name): each limit still applies, NUL and
    # invalid UTF-8 still become U+FFFD, whichever field saw the value first.
    long_host = "h" * 200
    for _ in range(2):
        row = dict(zip(schema.ROW, schema.row(raw(app="d", line="x", process=b"web\x00\xff", instance="i" * 100,
                                                  host=long_host), RECEIVED)))
        assert row["process"] == "web\ufffd\ufffd" and row["instance"] == "i" * 64 and row["host"] == long_host
        row = dict(zip(schema.ROW, schema.row(raw(app="d", line="x", process="i" * 100, host=b"web\x00\xff"),
                                              RECEIVED)))
        assert row["process"] == "i" * 64 and row["host"] == "web\ufffd\ufffd" and row["instance"] == ""


def test_invalid_utf8_and_nul_become_replacement_characters():
    rec = schema.record(raw(app="d", line=b"ok \xff\xfe nul\x00end"), RECEIVED)
    assert rec.line == "ok \ufffd\ufffd nul\ufffdend"


def test_a_character_cut_in_two_is_not_half_kept():
    line = b"a" * (schema.MAX_LINE - 1) + "é".encode() + b"tail"
    text = schema.clean_line(line)
    assert text.startswith("a" * (schema.MAX_LINE - 1) + " [cut:")


def test_router_line_with_junk_numbers(store):
    row = stored_router_line(store, "status=99999 bytes=99999999999999999999999 duration=xms instance=" + "i" * 100
                             + ' path="unterminated')
    assert (row["status"], row["bytes"], row["duration_ms"]) == (0, 0, 0) and len(row["instance"]) == 64


def test_ansi_codes_are_ignored_by_search_text():
    assert schema.strip_ansi("\x1b[31mred\x1b[0m plain") == "red plain"
    assert schema.strip_ansi("no codes") == "no codes"


def test_a_missing_or_malformed_ts_is_the_time_redis_accepted_the_entry():
    # The ingest hands the entry id; it is read only when the writer's ts cannot be used.
    for fields in (raw(app="d", line="x"), raw(ts="2026-13-01T00:00:00Z", app="d", line="x"),
                   raw(ts="x" * 100, app="d", line="x")):
        assert schema.row(fields, b"1767323045678-3")[0] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    good = raw(ts="2026-11-22T00:12:03.123456Z", app="d", line="x")
    assert schema.row(good, b"junk that is never read")[0] == datetime(2026, 11, 22, 0, 12, 3, 123456,
                                                                       tzinfo=timezone.utc)


def test_only_router_lines_are_read_for_request_fields(store):
    # An app cannot pass its own output off as requests (metrics, status: searches): its key=value text is not read.
    now = datetime.now(timezone.utc)
    forged = 'at=error method=POST path="/admin" instance=other status=503 duration=9ms bytes=5'
    store.insert_rows([schema.row(raw(source="app", app="demo", process="web.1", instance="i-1", line=forged), now),
                       schema.row(raw(source="platform", app="demo", line=forged), now)], ["1-0", "1-1"])
    rows = store.query("SELECT source, instance, level, method, path, status, duration_ms, bytes FROM logcenter.lines "
                       "ORDER BY source")
    assert [(r["source"], r["instance"], r["level"], r["method"], r["path"], r["status"], r["duration_ms"], r["bytes"])
            for r in rows] == [("app", "i-1", "info", "", "", 0, 0, 0), ("platform", "", "info", "", "", 0, 0, 0)]
