"""The plain rules of backups: retention, the count comparison, the scratch server's output read as hostile,
schedules; and the API's refusals."""

from datetime import datetime, timedelta, timezone

import pytest

from paas.services import backups
from paas.services.pgdump import BackupError, compare, parse_counts

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


def test_retention_keeps_seven_daily_then_four_weekly():
    daily = [(i, NOW - timedelta(days=i)) for i in range(60)]
    twice_today = daily + [(100, NOW - timedelta(hours=1))]
    kept = backups.keep(twice_today)
    assert {0, 1, 2, 3, 4, 5, 6} <= kept and 100 not in kept  # the newest of each day
    weekly = sorted(kept - {0, 1, 2, 3, 4, 5, 6})
    assert len(weekly) == 4 and all(d > 6 for d in weekly)
    weeks = {(NOW - timedelta(days=d)).isocalendar()[:2] for d in weekly}
    assert len(weeks) == 4
    assert backups.keep([]) == set()


def test_counts_must_match_table_for_table():
    compare({"public.a": 2}, {"public.a": 2})
    with pytest.raises(BackupError, match="public.a: 1 rows, expected 2"):
        compare({"public.a": 2}, {"public.a": 1})
    with pytest.raises(BackupError, match="missing tables: public.b"):
        compare({"public.a": 2, "public.b": 0}, {"public.a": 2})
    with pytest.raises(BackupError, match="unexpected tables"):
        compare({}, {"public.x": 0})


@pytest.mark.parametrize("text", [b"x" * ((1 << 20) + 1), b"not json", b"[1]", b'{"t": -1}', b'{"t": "1"}',
                                  b"\xff\xfe", b'{"t": 1.5}'])
def test_the_scratch_servers_output_is_read_as_hostile(text):
    with pytest.raises(BackupError):
        parse_counts(text)


def test_parse_counts_reads_an_object_of_counts():
    assert parse_counts(b'{"public.t": 3}\n') == {"public.t": 3}
    assert parse_counts(b"") == {}


def test_refusals_of_the_backup_api(addon_users, up_host):
    from paas.platform.models import Addon

    alice, bob = addon_users
    alice.post("/api/apps", {"name": "shop"})
    nodb = alice.post("/api/apps/shop/pg/backups", {})
    assert nodb.status_code == 404 and "addons:create postgres" in nodb.json_body["message"]
    name = alice.post("/api/apps/shop/addons", {"service": "postgres"}).json_body["name"]
    pending = alice.post("/api/apps/shop/pg/backups", {})
    assert pending.status_code == 409 and "provisioning" in pending.json_body["message"]
    Addon.objects.filter(name=name).update(state="available")
    for at in ("25:00", "2:30", "noon", 230):
        response = alice.call("put", "/api/apps/shop/pg/backup-schedule", {"at": at})
        assert response.status_code == 422 and "HH:MM" in response.json_body["message"]
    assert alice.call("put", "/api/apps/shop/pg/backup-schedule", {"at": "02:30"}).json_body["at"] == "02:30"
    assert alice.get("/api/apps/shop/pg/backups/b999").status_code == 404
    assert alice.get("/api/apps/shop/pg/backups/..%2f..").status_code == 404
    nothing = alice.post("/api/apps/shop/pg/restores", {})
    assert nothing.status_code == 404 and "no backups" in nothing.json_body["message"]
    bob.post("/api/apps", {"name": "other"})
    cross = bob.post("/api/apps/other/pg/restores", {"from": "shop"})
    assert cross.status_code in (403, 404) and "shop" in cross.json_body["message"]


def test_schedules_fall_due_once_a_day(addon_users, up_host):
    from paas.platform.models import Addon, App

    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    name = alice.post("/api/apps/shop/addons", {"service": "postgres"}).json_body["name"]
    Addon.objects.filter(name=name).update(state="available", backup_at="02:30")
    assert [a.name for a in backups.due(NOW)] == [name]
    assert backups.due(NOW.replace(hour=2, minute=29)) == []
    assert backups.run_schedules(NOW) == 1
    assert App.objects.get(name="shop").backups.get().scheduled
    assert backups.due(NOW) == [] and backups.run_schedules(NOW) == 0
    assert [a.name for a in backups.due(NOW + timedelta(days=1))] == [name]


def test_backups_have_a_queue_apart_from_builds(settings):
    # A long pg_dump never holds a build worker's slot (platform/settings.py CELERY_TASK_ROUTES).
    from paas.platform.celery import app

    router = app.amqp.router
    backup = router.route({}, backups.TASK_NAME)["queue"].name
    build = router.route({}, "paas.platform.tasks.builds.build")["queue"].name
    assert backup == settings.PAAS_BACKUP_QUEUE and build == settings.PAAS_BUILD_QUEUE and backup != build


def test_a_dump_is_taken_only_as_a_regular_file(tmp_path):
    # What the dump container left is the add-on uid's: a link or a directory there is refused, never followed.
    from paas.services.pgdump import _take

    secret = tmp_path / "secret"
    secret.write_text("host file")
    (tmp_path / "link.dump").symlink_to(secret)
    (tmp_path / "dir.dump").mkdir()
    for made in ("link.dump", "dir.dump"):
        with pytest.raises(BackupError, match="no dump file"):
            _take(tmp_path / made, tmp_path / "backup.dump")
    assert not (tmp_path / "backup.dump").exists() and secret.read_text() == "host file"


def test_a_capture_that_never_finishes_is_failed_and_alerted_once(addon_users, up_host):
    # Its worker is down or its task lost: the control loop says so instead of leaving it pending forever.
    from paas.platform.models import AddonBackup, Addon, App, Event
    from paas.services.backup_alert import TAG

    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    name = alice.post("/api/apps/shop/addons", {"service": "postgres"}).json_body["name"]
    app, addon = App.objects.get(name="shop"), Addon.objects.get(name=name)
    backup = AddonBackup.objects.create(app=app, addon=addon, addon_name=name, number=1, scheduled=True)
    asked = backup.created_at
    assert backups.fail_unfinished(asked + backups.unfinished_after() / 2) == 0
    assert backups.fail_unfinished(asked + backups.unfinished_after() * 2) == 1
    backup.refresh_from_db()
    assert backup.state == "failed" and "backup worker" in backup.message
    assert backups.fail_unfinished(asked + backups.unfinished_after() * 3) == 0
    assert Event.objects.filter(app=app, action="backup.failed", message__contains=TAG).count() == 1
    assert backups.run(backup.pk) == "nothing to do"  # a task delivered after all leaves it alone
