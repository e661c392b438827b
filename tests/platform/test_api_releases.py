from paas.platform.models import Build, Config, Release


def create(client, name="demo"):
    assert client.post("/api/apps", {"name": name}).status_code == 201


def test_config_set_makes_v2_and_unset_v3(as_alice):
    create(as_alice)
    response = as_alice.patch("/api/apps/demo/config", {"A": "1", "B": "two"})
    assert response.status_code == 200
    assert response.json_body == {"release": 2, "config": {"A": "1", "B": "two"}}
    assert as_alice.patch("/api/apps/demo/config", {"A": None}).json_body["release"] == 3
    assert as_alice.get("/api/apps/demo/config").json_body == {"B": "two"}
    summaries = [r["summary"] for r in as_alice.get("/api/apps/demo/releases").json_body]
    assert summaries == ["Remove A config var", "Set A, B config vars", "Initial release"]


def test_bad_config_changes_write_nothing(as_alice):
    create(as_alice)
    for body in ({"1BAD": "x"}, {"A-B": "x"}, {"A": 5}, {}, {"A": "x\u0000y"}, {"MISSING": None}):
        response = as_alice.patch("/api/apps/demo/config", body)
        assert response.status_code == 422, body
        assert response.json_body["message"]
    assert Release.objects.filter(app__name="demo").count() == 1
    assert Config.objects.filter(app__name="demo").count() == 1


def test_configs_and_releases_are_immutable(as_alice):
    create(as_alice)
    release = Release.objects.get(app__name="demo")
    release.summary = "rewritten"
    try:
        release.save()
    except ValueError as error:
        assert "immutable" in str(error)
    else:
        raise AssertionError("a release was rewritten")
    release.refresh_from_db()
    assert release.summary == "Initial release"


def test_rollback_makes_a_new_release_with_old_build_and_config(as_alice, alice):
    create(as_alice)
    as_alice.patch("/api/apps/demo/config", {"A": "1"})
    response = as_alice.post("/api/apps/demo/rollback", {"version": "v1"})
    assert response.status_code == 201
    assert response.json_body["version"] == 3
    assert response.json_body["rollback_of"] == 1
    assert response.json_body["summary"] == "Rollback to v1"
    assert as_alice.get("/api/apps/demo/config").json_body == {}
    v1, v3 = Release.objects.get(app__name="demo", version=1), Release.objects.get(app__name="demo", version=3)
    assert v3.config_id == v1.config_id


def test_rollback_defaults_to_the_previous_release(as_alice):
    create(as_alice)
    as_alice.patch("/api/apps/demo/config", {"A": "1"})
    as_alice.patch("/api/apps/demo/config", {"A": "2"})
    assert as_alice.post("/api/apps/demo/rollback", {}).json_body["summary"] == "Rollback to v2"
    assert as_alice.get("/api/apps/demo/config").json_body == {"A": "1"}


def test_rollback_errors(as_alice):
    create(as_alice)
    nothing_before = as_alice.post("/api/apps/demo/rollback", {})
    assert nothing_before.status_code == 422
    missing = as_alice.post("/api/apps/demo/rollback", {"version": "v9"})
    assert missing.status_code == 404 and "v9" in missing.json_body["message"]
    garbage = as_alice.post("/api/apps/demo/rollback", {"version": "latest"})
    assert garbage.status_code == 422
    assert Release.objects.filter(app__name="demo").count() == 1


def test_release_info(as_alice):
    create(as_alice)
    assert as_alice.get("/api/apps/demo/releases/v1").json_body["version"] == 1
    assert as_alice.get("/api/apps/demo/releases/1").json_body["version"] == 1
    assert as_alice.get("/api/apps/demo/releases/v2").status_code == 404


def deploy_build(app_name, process_types):
    """A finished build as the build pipeline records it, released as the next version."""
    from paas.platform.actions.releases import create_release
    from paas.platform.models import App

    app = App.objects.get(name=app_name)
    build = Build.objects.create(app=app, status=Build.SUCCEEDED, process_types=process_types, commit="abc123")
    latest = app.latest_release()
    return create_release(app, user=app.owner, build=build, config=latest.config, summary="Deploy abc123")


def test_scale_records_desired_formation(as_alice):
    create(as_alice)
    deploy_build("demo", {"web": "gunicorn app:app", "worker": "python worker.py"})
    response = as_alice.patch("/api/apps/demo/formation", {"web": {"quantity": 2}, "worker": {"quantity": 1, "size": "medium"}})
    assert response.status_code == 200, response.json_body
    assert response.json_body == [
        {"type": "web", "quantity": 2, "size": "small", "stopped": False},
        {"type": "worker", "quantity": 1, "size": "medium", "stopped": False},
    ]


def test_scale_errors_change_nothing(as_alice):
    create(as_alice)
    no_types = as_alice.patch("/api/apps/demo/formation", {"web": {"quantity": 1}})
    assert no_types.status_code == 422 and "push code first" in no_types.json_body["message"]
    deploy_build("demo", {"web": "gunicorn app:app"})
    for body in (
        {"web": {"quantity": -1}},
        {"web": {"quantity": 10**6}},
        {"web": {"quantity": "2"}},
        {"web": {"quantity": 1.5}},
        {"web": {"size": "galactic"}},
        {"web": {"quantity": 1}, "clock": {"quantity": 1}},
        {"web": {}},
        {"web": 3},
        {"web": {"change": -1}},                 # relative, below zero
        {"web": {"change": "+1"}},
        {"web": {"change": True}},
        {"web": {"quantity": 1, "change": 1}},  # one or the other
        {"web": {"change": 1}, "clock": {"change": 1}},  # half-applied never: the whole change is refused
    ):
        response = as_alice.patch("/api/apps/demo/formation", body)
        assert response.status_code == 422, body
    assert as_alice.get("/api/apps/demo/formation").json_body == [
        {"type": "web", "quantity": 0, "size": "small", "stopped": False}]


def test_instances_list_is_empty_before_scheduling(as_alice):
    create(as_alice)
    assert as_alice.get("/api/apps/demo/instances").json_body == []


def test_autoscale_settings_are_checked(as_alice):
    create(as_alice)
    deploy_build("demo", {"web": "x", "worker": "y"})
    ok = as_alice.call("put", "/api/apps/demo/autoscale/web", {"min": 1, "max": 5, "target_rps": 50})
    assert ok.status_code == 200 and ok.json_body["max"] == 5
    for body in ({"min": 3, "max": 2, "target_rps": 5}, {"min": 1, "max": 5}, {"min": -1, "max": 2, "target_rps": 5},
                 {"min": 1, "max": 10**6, "target_rps": 5}, {"min": "1", "max": 2, "target_rps": 5}):
        assert as_alice.call("put", "/api/apps/demo/autoscale/web", body).status_code == 422, body
    assert as_alice.call("put", "/api/apps/demo/autoscale/worker", {"min": 0, "max": 2}).status_code == 422
    assert as_alice.call("put", "/api/apps/demo/autoscale/clock", {"min": 1, "max": 2, "target_rps": 1}).status_code == 422
    assert [r["type"] for r in as_alice.get("/api/apps/demo/autoscale").json_body] == ["web"]
    assert as_alice.delete("/api/apps/demo/autoscale/web").status_code == 200
    assert as_alice.delete("/api/apps/demo/autoscale/web").status_code == 404


def test_canary_input_is_checked(as_alice):
    create(as_alice)
    assert as_alice.post("/api/apps/demo/canary", {"version": "v1", "percent": 10}).status_code == 422
    deploy_build("demo", {"web": "x"})
    for body in ({"version": "v2", "percent": 0}, {"version": "v2", "percent": 100}, {"version": "v2", "percent": "5"}):
        assert as_alice.post("/api/apps/demo/canary", body).status_code == 422
    assert as_alice.post("/api/apps/demo/canary", {"version": "v2", "percent": 10}).status_code == 422  # no live release
    assert as_alice.post("/api/apps/demo/canary", {"version": "v9", "percent": 10}).status_code == 404
    assert as_alice.get("/api/apps/demo/canary").status_code == 404
    assert as_alice.post("/api/apps/demo/canary/promote").status_code == 404
    assert as_alice.delete("/api/apps/demo/canary").status_code == 404
