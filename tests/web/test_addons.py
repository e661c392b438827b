"""Add-ons and backups on the app page and the dashboard: the services layer's own actions and refusals."""

from datetime import datetime, timezone

import pytest

from paas.platform.actions import access
from paas.platform.models import Addon, AddonAttachment, AddonBackup
from paas.web import addons
from tests.web.browser import log_in, shoot

pytestmark = pytest.mark.usefixtures("own_redis_keys")


def database(app, state=Addon.AVAILABLE, **fields) -> Addon:
    addon = Addon.objects.create(name=f"{app.name}-pg-1", service="postgres", plan="hobby", app=app, state=state,
                                 server_state="up", **fields)
    AddonAttachment.objects.create(addon=addon, app=app, name="DATABASE", bound=True)
    return addon


def test_app_page_shows_addons_with_their_backups(alice_app, alice_client):
    addon = database(alice_app, backup_at="02:30")
    AddonBackup.objects.create(app=alice_app, addon=addon, addon_name=addon.name, number=1,
                               state=AddonBackup.FAILED, message="the scratch restore differed")
    body = alice_client.get("/console/apps/alice-app/").content.decode()
    assert 'id="addons"' in body and addon.name in body and "DATABASE_URL" in body
    assert "daily at 02:30 UTC" in body and "b001" in body and "the scratch restore differed" in body
    assert "redis:standard" in body                     # the catalog to add from


def test_addon_actions_follow_the_services_rules(alice_app, alice_client):
    addon = database(alice_app)
    page = "/console/apps/alice-app/"

    def said(path, **data):
        response = alice_client.post(page + path, {"next": page, **data}, follow=True)
        assert response.status_code == 200
        return " ".join(str(m) for m in response.context["messages"])

    assert "HH:MM" in said("addons/schedule", addon=addon.name, at="25:99")
    assert "daily at 03:15 UTC" in said("addons/schedule", addon=addon.name, at="03:15")
    assert Addon.objects.get(pk=addon.pk).backup_at == "03:15"
    assert "Capturing b001" in said("addons/capture", addon=addon.name)
    assert AddonBackup.objects.filter(app=alice_app, number=1).exists()
    assert "confirm with" in said("addons/destroy", addon=addon.name, confirm="wrong")
    assert Addon.objects.get(pk=addon.pk).state == Addon.AVAILABLE
    assert "postgres" in said("addons", service="mysql") and Addon.objects.count() == 1


def test_another_users_addons_are_neither_shown_nor_changed(alice_app, bob_app, bob_client):
    addon = database(alice_app)
    for path, data in (("addons/capture", {"addon": addon.name}), ("addons/destroy", {"addon": addon.name,
                                                                                        "confirm": "alice-app"}),
                       ("addons/schedule", {"addon": addon.name, "at": "01:00"})):
        response = bob_client.post(f"/console/apps/alice-app/{path}", {"next": "/console/apps/bob-app/", **data},
                                   follow=True)
        assert [m.level_tag for m in response.context["messages"]] == ["error"]
    # Through bob's own app, alice's add-on is still not his to destroy.
    response = bob_client.post("/console/apps/bob-app/addons/destroy", {"addon": addon.name, "confirm": "bob-app"},
                               follow=True)
    addon.refresh_from_db()
    assert addon.state == Addon.AVAILABLE and addon.backup_at == "" and not AddonBackup.objects.exists()
    assert addon.name not in bob_client.get("/console/apps/bob-app/").content.decode()


def test_dashboard_names_addons_needing_attention_to_their_members(alice_app, bob_app, alice_client, bob_client):
    down = database(alice_app, state=Addon.DOWN, state_message="its host was lost")
    AddonBackup.objects.create(app=alice_app, addon=down, addon_name=down.name, number=1, state=AddonBackup.FAILED,
                               message="pg_dump exited 1")
    Addon.objects.create(name="alice-app-pg-2", service="postgres", plan="hobby", app=alice_app,
                         state=Addon.AVAILABLE, backup_at="00:00")
    body = alice_client.get("/console/").content.decode()
    assert 'id="addon-attention"' in body and "its host was lost" in body and "pg_dump exited 1" in body
    assert 'id="addon-attention"' not in bob_client.get("/console/").content.decode()


def test_a_scheduled_backup_an_hour_late_is_missed(alice, bob, alice_app):
    Addon.objects.create(name="alice-app-pg-2", service="postgres", plan="hobby", app=alice_app,
                         state=Addon.AVAILABLE, backup_at="02:30")
    on_time = datetime(2030, 1, 1, 3, 0, tzinfo=timezone.utc)
    late = datetime(2030, 1, 1, 3, 31, tzinfo=timezone.utc)
    visible = access.visible_apps(alice).values("pk")
    assert addons.attention(visible, on_time) == []
    assert addons.attention(visible, late) == [("alice-app", "alice-app-pg-2",
                                                "the daily backup at 02:30 UTC did not run")]
    assert addons.attention(access.visible_apps(bob).values("pk"), late) == []


def test_many_missed_backups_cost_no_query_each(alice_app, alice_client, django_assert_max_num_queries):
    Addon.objects.bulk_create(Addon(name=f"alice-app-pg-{n}", service="postgres", plan="hobby", app=alice_app,
                                    state=Addon.AVAILABLE, backup_at="00:00") for n in range(30))
    with django_assert_max_num_queries(20):
        assert alice_client.get("/console/").status_code == 200



def test_the_app_pages_backups_cost_the_same_queries_however_many_and_whatever_their_source(alice_app, alice_client):
    """Ten backups shown, restores among them with a source backup of another add-on: one query for them all, the
    same count as with a single capture (the page shows no source, and reads none)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    addon = database(alice_app)
    first = AddonBackup.objects.create(app=alice_app, addon=addon, addon_name=addon.name, number=1)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/console/apps/alice-app/").status_code == 200
        return len(captured)

    one = queries()
    AddonBackup.objects.bulk_create(
        AddonBackup(app=alice_app, addon=addon, addon_name=addon.name, number=n, kind=AddonBackup.RESTORE,
                    source=first) for n in range(2, 12))
    body = alice_client.get("/console/apps/alice-app/").content.decode()
    assert "r002" in body and "b001" not in body          # the ten newest shown, restores labelled as such
    assert queries() == one

@pytest.mark.django_db(transaction=True)
def test_addons_in_the_browser(alice, alice_app, console_page):
    addon = database(alice_app)
    AddonBackup.objects.create(app=alice_app, addon=addon, addon_name=addon.name, number=1,
                               state=AddonBackup.VERIFIED, size_bytes=4096)
    page = console_page
    log_in(page, "alice")
    page.goto(page.base + "/console/apps/alice-app/#addons")
    page.fill(f"input[aria-label='Daily backup time of {addon.name}']", "04:45")
    page.click("#addons button:has-text('Schedule')")
    page.wait_for_selector(".messages >> text=daily at 04:45 UTC")
    assert page.locator("#addons >> text=daily at 04:45 UTC").count() == 1
    page.locator("#addons").scroll_into_view_if_needed()
    shoot(page, "app-addons")
