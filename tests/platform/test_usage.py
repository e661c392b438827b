from datetime import datetime, timedelta, timezone

from paas.platform.actions.releases import create_release
from paas.platform.models import App, Build, Instance
from paas.platform.usage import overlap_hours

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_overlap_is_clipped_to_the_period():
    assert overlap_hours(T0, T0 + timedelta(hours=3), T0 + timedelta(hours=1), T0 + timedelta(hours=10)) == 2
    assert overlap_hours(T0, None, T0, T0 + timedelta(hours=5)) == 5
    assert overlap_hours(T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(hours=3)) == 0


def test_usage_per_app_type_size_and_team(as_alice, alice):
    as_alice.post("/api/teams", {"name": "ops"})
    as_alice.post("/api/apps", {"name": "metered", "team": "ops"})
    app = App.objects.get(name="metered")
    build = Build.objects.create(app=app, status="succeeded", process_types={"web": "x"})
    release = create_release(app, user=alice, build=build, config=app.latest_release().config, summary="d")
    for n, (hours, size, memory) in enumerate([(2, "small", 256), (4, "small", 256), (1, "large", 1024)]):
        Instance.objects.create(name=f"m{n}", app=app, release=release, process_type="web", number=n + 1, size=size,
                                memory_mb=memory, cpus=1, started_at=T0, stopped_at=T0 + timedelta(hours=hours))
    body = as_alice.get("/api/apps/metered/usage?since=2026-11-01&until=2026-11-02").json_body
    assert body["apps"] == [
        {"app": "metered", "team": "ops", "type": "web", "size": "large", "instance_hours": 1.0, "memory_gb_hours": 1.0},
        {"app": "metered", "team": "ops", "type": "web", "size": "small", "instance_hours": 6.0, "memory_gb_hours": 1.5},
    ]
    assert body["teams"] == [{"team": "ops", "instance_hours": 7.0, "memory_gb_hours": 2.5}]
    assert as_alice.get("/api/usage?since=2026-13-01").status_code == 422
    assert as_alice.get("/api/usage?since=2026-11-02&until=2026-11-01").status_code == 422
