"""The add-on API's rules, against the real database: what is refused, and that a refusal leaves nothing."""

from datetime import timedelta

from paas.platform.models import Addon, AddonAttachment, Event


def create(client, app, service, as_name=None):
    body = {"service": service, **({"as": as_name} if as_name else {})}
    return client.post(f"/api/apps/{app}/addons", body)


def test_catalog_lists_services_and_plans(addon_users):
    alice, _ = addon_users
    catalog = alice.get("/api/addon-services").json_body
    assert {s["name"] for s in catalog} == {"postgres", "redis"}
    assert [p["name"] for p in catalog[0]["plans"]] == ["hobby", "standard"]
    # Each says the version its servers run on each stack here: the host stack's are the host's own.
    from paas.services import serverpackages

    assert catalog[0]["versions"]["host"] == serverpackages.version("host", "postgres") != ""


def test_create_places_a_server_and_attaches_it_as_database(addon_users, up_host):
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    response = create(alice, "shop", "postgres:standard")
    assert response.status_code == 202
    body = response.json_body
    assert body["plan"] == "standard" and body["state"] == "provisioning" and body["host"] == up_host.name
    assert body["last_operation"]["state"] == "in progress"
    assert body["attachments"] == [{"app": "shop", "name": "DATABASE", "config_var": "DATABASE_URL",
                                    "bound": False}]
    assert "credentials" not in body and "password" not in str(body)
    assert [a["name"] for a in alice.get("/api/apps/shop/addons").json_body] == [body["name"]]
    assert Event.objects.filter(action="addon.create", app__name="shop").exists()


def test_unknown_service_or_plan_lists_what_exists_and_creates_nothing(addon_users, up_host):
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    unknown = create(alice, "shop", "mysql")
    assert unknown.status_code == 422 and "postgres, redis" in unknown.json_body["message"]
    plan = create(alice, "shop", "postgres:huge")
    assert plan.status_code == 422 and "hobby, standard" in plan.json_body["message"]
    for bad in (None, "", 5, "x" * 100):
        assert create(alice, "shop", bad).status_code == 422
    assert not Addon.objects.exists()


def test_second_postgres_needs_as_and_nothing_half_made(addon_users, up_host):
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    assert create(alice, "shop", "postgres").status_code == 202
    second = create(alice, "shop", "postgres")
    assert second.status_code == 409 and "--as" in second.json_body["message"]
    assert Addon.objects.count() == 1
    assert create(alice, "shop", "postgres", as_name="bad name!").status_code == 422
    assert Addon.objects.count() == 1
    named = create(alice, "shop", "postgres", as_name="analytics")
    assert named.status_code == 202 and named.json_body["attachments"][0]["config_var"] == "ANALYTICS_URL"


def test_a_config_var_of_the_same_name_is_not_overwritten(addon_users, up_host):
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    alice.patch("/api/apps/shop/config", {"REDIS_URL": "redis://elsewhere"})
    refused = create(alice, "shop", "redis")
    assert refused.status_code == 409 and "REDIS_URL" in refused.json_body["message"]
    assert not Addon.objects.exists()


def test_no_host_with_room_is_a_clear_503_and_nothing_made(addon_users, db):
    from paas.platform.models import Host

    Host.objects.all().update(state=Host.DOWN)
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    response = create(alice, "shop", "postgres")
    assert response.status_code == 503 and "no host can run" in response.json_body["message"]
    assert not Addon.objects.exists() and not AddonAttachment.objects.exists()


def test_destroy_needs_confirm_of_the_owning_app(addon_users, up_host):
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    name = create(alice, "shop", "postgres").json_body["name"]
    for confirm in ("", "?confirm=other"):
        refused = alice.delete(f"/api/addons/{name}{confirm}")
        assert refused.status_code == 422 and "--confirm shop" in refused.json_body["message"]
    assert Addon.objects.get(name=name).state == "provisioning"
    assert alice.delete(f"/api/addons/{name}?confirm=shop").status_code == 202
    assert Addon.objects.get(name=name).state == "deprovisioning"
    assert not AddonAttachment.objects.exists()


def test_other_users_neither_see_nor_touch_it(addon_users, up_host):
    alice, bob = addon_users
    alice.post("/api/apps", {"name": "shop"})
    bob.post("/api/apps", {"name": "thief"})
    name = create(alice, "shop", "postgres").json_body["name"]
    assert bob.get(f"/api/addons/{name}").status_code == 404
    assert bob.delete(f"/api/addons/{name}?confirm=shop").status_code == 404
    assert bob.call("put", f"/api/apps/thief/addons/{name}", {}).status_code == 404
    assert alice.get("/api/addons/%00").status_code == 404
    assert Addon.objects.get(name=name).attachments.count() == 1


def test_attach_and_detach_another_app(addon_users, up_host):
    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    alice.post("/api/apps", {"name": "worker"})
    name = create(alice, "shop", "postgres").json_body["name"]
    attached = alice.call("put", f"/api/apps/worker/addons/{name}", {})
    assert attached.status_code == 201
    assert {a["app"] for a in attached.json_body["attachments"]} == {"shop", "worker"}
    assert alice.call("put", f"/api/apps/worker/addons/{name}", {}).status_code == 409
    owner = alice.delete(f"/api/apps/shop/addons/{name}")
    assert owner.status_code == 409 and "addons:destroy" in owner.json_body["message"]
    assert alice.delete(f"/api/apps/worker/addons/{name}").status_code == 200
    assert [a.app.name for a in Addon.objects.get(name=name).attachments.all()] == ["shop"]


def test_a_server_that_never_answers_fails_and_its_attachments_go(addon_users, up_host):
    from paas.services.settle import settle

    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    name = create(alice, "shop", "postgres").json_body["name"]
    Addon.objects.filter(name=name).update(created_at=Addon.objects.get(name=name).created_at - timedelta(hours=1))
    assert settle() >= 1
    addon = Addon.objects.get(name=name)
    assert addon.state == "failed" and "did not accept connections" in addon.state_message
    assert not addon.attachments.exists()
    assert alice.get(f"/api/addons/{name}").json_body["last_operation"]["state"] == "failed"
    # Its volume is for its host's agent to remove; then only the failed record is left.
    from paas.services import agentview
    assert agentview.doomed_volumes(up_host.name) == [name]
    agentview.volume_removed(name)
    assert agentview.doomed_volumes(up_host.name) == []
    # A second postgres can now take DATABASE_URL.
    assert create(alice, "shop", "postgres").status_code == 202


def test_destroying_the_app_destroys_its_addons_through_their_agents(addon_users, up_host):
    from paas.services import agentview

    alice, _ = addon_users
    alice.post("/api/apps", {"name": "shop"})
    alice.post("/api/apps", {"name": "worker"})
    name = create(alice, "shop", "postgres").json_body["name"]
    assert alice.call("put", f"/api/apps/worker/addons/{name}", {}).status_code == 201
    assert alice.delete("/api/apps/shop?confirm=shop").status_code in (200, 202, 204)
    addon = Addon.objects.get(name=name)
    assert addon.app is None and addon.state == "deprovisioning" and not addon.attachments.exists()
    assert agentview.doomed_volumes(up_host.name) == [name]  # its host's agent stops it, removes the volume
    assert alice.get(f"/api/addons/{name}").status_code == 404
    agentview.volume_removed(name)
    assert not Addon.objects.filter(name=name).exists()
