"""Retention per app: the plain rules, and the store keeping each line's days so the engine's TTL drops it."""

from datetime import datetime, timedelta, timezone

import pytest

from paas.logcenter import retention, schema
from tests.waiting import wait_for


def test_days_are_checked_against_the_platforms_maximum():
    assert retention.check_days(7, 90) == 7
    for bad in (0, 91, -1, "7", 7.5, True, None):
        with pytest.raises(retention.RetentionError, match="from 1 to 90"):
            retention.check_days(bad, 90)
    assert retention.effective(None, 30, 90) == 30 and retention.effective(7, 30, 90) == 7
    assert retention.effective(120, 30, 90) == 90     # the maximum lowered under an app's setting
    published = {b"a": b"7", b"b": b"0", b"c": b"9999", b"d": b"x", b"e": "\u0663".encode(), b"f": b"90"}
    assert retention.parse(published, 90) == {"a": 7, "f": 90}


def lines_of(store, app):
    return sorted(r["line"] for r in store.query("SELECT line FROM logcenter.lines WHERE app = {a:String}",
                                                 {"a": app}))


def test_an_apps_retention_is_kept_per_line_and_applied_by_the_engine(store):
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=10)
    store.insert([schema.Record(time=old, app="brief", source="app", line="brief old"),
                  schema.Record(time=now, app="brief", source="app", line="brief new"),
                  schema.Record(time=old, app="long", source="app", line="long old")], ["1-0", "2-0", "1-0"])
    # The app's setting comes later: its lines stored already follow it.
    assert store.set_retention({"brief": 7}, 30) == ["brief"]
    wait_for(lambda: lines_of(store, "brief") == ["brief new"], 30, "the engine to drop brief's old line")
    assert lines_of(store, "long") == ["long old"]
    # Lines stored from now on carry their app's days; the TTL drops one past them (at the latest in the next
    # merge: the engine may merge at any time, so only the end is asserted).
    store.insert([schema.Record(time=old, app="brief", source="app", line="brief late"),
                  schema.Record(time=now, app="brief", source="app", line="brief fresh"),
                  schema.Record(time=old, app="other", source="app", line="other late")], ["3-0", "4-0", "3-0"])
    kept = store.query("SELECT app, keep_days FROM logcenter.lines WHERE line IN ('brief fresh', 'other late') "
                       "ORDER BY app")
    assert [(r["app"], int(r["keep_days"])) for r in kept] == [("brief", 7), ("other", 30)]
    store.optimize()
    assert lines_of(store, "brief") == ["brief fresh", "brief new"] and lines_of(store, "other") == ["other late"]
    # Back to the default: nothing to change for lines already stored with it, brief's kept longer again.
    assert store.set_retention({}, 30) == ["brief"]
    wait_for(lambda: store.reconcile_retention() == [], 30, "brief's lines to carry the default")


def test_paas_logs_follows_published_retentions_and_reports_them(service):
    now = datetime.now(timezone.utc)
    service.store.insert([schema.Record(time=now, app="kept", source="app", line="x"),
                          schema.Record(time=now, app="plain", source="app", line="y")], ["1-0", "1-0"])
    service.follow_retention({b"kept": b"3", b"plain": b"not a number", b"gone": b"91"})
    usage = {row["app"]: row["retention_days"] for row in service.usage({"app": None})["apps"]}
    assert usage == {"kept": 3, "plain": 30}
    assert service.store.retention == {"kept": 3}


def test_a_default_above_the_maximum_is_refused_at_start(monkeypatch):
    from paas.logcenter.settings import Settings
    from paas.platform.env import SettingError

    monkeypatch.setenv("PAAS_LOG_RETENTION_DAYS", "120")
    assert Settings.from_env().retention_max_days == 120     # the maximum follows a larger default
    monkeypatch.setenv("PAAS_LOG_RETENTION_MAX_DAYS", "60")
    with pytest.raises(SettingError, match="PAAS_LOG_RETENTION_DAYS=120 is above PAAS_LOG_RETENTION_MAX_DAYS=60"):
        Settings.from_env()
