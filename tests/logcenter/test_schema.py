"""The one log record shape: release labels, entries, and hostile stream entries read back."""

from datetime import datetime, timezone

import pytest

from paas.logcenter import schema

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


def test_router_line_fields():
    line = ('at=info method=GET path="/a b?x=1" host=demo.localhost request_id=r-1 fwd="127.0.0.1" '
            'instance=web-1 duration=12.5ms status=404 bytes=17')
    rec = schema.record(raw(ts="2026-11-22T00:12:03.123456Z", app="demo", release="v7", process="router",
                            source="router", stream="stdout", line=line), RECEIVED)
    assert (rec.method, rec.path, rec.status, rec.duration_ms, rec.bytes) == ("GET", "/a b?x=1", 404, 12.5, 17)
    assert rec.request_id == "r-1" and rec.instance == "web-1" and rec.release == "v7" and rec.level == "info"
    assert rec.time == datetime(2026, 11, 22, 0, 12, 3, 123456, tzinfo=timezone.utc)


def test_router_error_line_is_an_error():
    line = 'at=error code=H21 desc="Backend connection refused" method=GET path="/" status=502 bytes=0'
    rec = schema.record(raw(source="router", app="d", line=line), RECEIVED)
    assert rec.status == 502 and rec.level == "error"


def test_hostile_entry_never_raises():
    huge = b"x" * (10 << 20)
    rec = schema.record(raw(ts="garbage", app="d\x00", source="evil", stream="stderr",
                            line=huge, release="v1" * 100), RECEIVED)
    assert rec.time == RECEIVED and rec.source == "app" and rec.level == "error"
    assert len(rec.line.encode()) < schema.MAX_LINE + 40
    assert rec.line.endswith(f"[cut: {(10 << 20) - schema.MAX_LINE} bytes more]")
    assert "\x00" not in rec.app and len(rec.release) <= 16


def test_invalid_utf8_and_nul_become_replacement_characters():
    rec = schema.record(raw(app="d", line=b"ok \xff\xfe nul\x00end"), RECEIVED)
    assert rec.line == "ok \ufffd\ufffd nul\ufffdend"


def test_a_character_cut_in_two_is_not_half_kept():
    line = b"a" * (schema.MAX_LINE - 1) + "é".encode() + b"tail"
    text = schema.clean_line(line)
    assert text.startswith("a" * (schema.MAX_LINE - 1) + " [cut:")


def test_router_line_with_junk_numbers():
    fields = schema.router_fields('status=abc bytes=99999999999999999999999 duration=xms path="unterminated')
    assert "status" not in fields and "bytes" not in fields and "duration_ms" not in fields


def test_ansi_codes_are_ignored_by_search_text():
    assert schema.strip_ansi("\x1b[31mred\x1b[0m plain") == "red plain"
    assert schema.strip_ansi("no codes") == "no codes"
