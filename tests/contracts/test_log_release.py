"""The log ``release`` field has one spelling, ``v<N>``, written by every writer and parsed once by the Log Center."""

from datetime import datetime, timezone

import pytest

from paas.logcenter import schema
from paas.router.telemetry.accesslog import AccessLog

RECEIVED = datetime(2026, 12, 6, tzinfo=timezone.utc)


def test_the_router_writes_the_release_as_the_schema_spells_it():
    key, app, release = AccessLog("redis://127.0.0.1:1/0", "p:").entry_key("demo", 3)
    assert (key, app, release) == (b"p:logs:demo", b"demo", b"v3")


@pytest.mark.parametrize("written, stored", [(b"v3", "v3"), (b"v120", "v120"), (b"", ""), (b"3", ""), (b"v0", ""),
                                             (b"v-1", ""), (b"V3", ""), (b"v3 ", ""), (b"\xff\x00", ""),
                                             (b"v1" * 100, "")])
def test_the_log_center_keeps_only_the_one_spelling(written, stored):
    rec = schema.record({b"app": b"demo", b"source": b"app", b"line": b"x", b"release": written}, RECEIVED)
    assert rec.release == stored
    assert schema.release_label(schema.release_version(rec.release)) == rec.release
