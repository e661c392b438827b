"""The console in a real browser (Debian's chromium through Playwright), at a desktop and a phone width.

Every page is visited, a screenshot of each saved under the run's output (browser.output_dir),
and the things people do there are done with the mouse and keyboard: log in, read an app's state,
reveal and edit config, roll back, scale, tail and search logs, look at hosts, create a token.
"""

import os
import re

import pytest
from django.db import connections

from paas.platform.logs import write_platform_line
from paas.platform.models import App, Formation
from tests.web import browser
from tests.web.fixtures import PASSWORD

pytestmark = [pytest.mark.usefixtures("own_redis_prefix"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def playwright_beside_the_orm(monkeypatch):
    """Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are plain sync code.

    The live server's request threads close their database connection at the end of each
    request (not when the browser's keep-alive connection ends, which may be after the test
    database is dropped)."""
    from django.db import connections

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


@pytest.fixture(params=list(browser.WIDTHS))
def page(request, live_server):
    width = browser.WIDTHS[request.param]
    with browser.chromium() as chromium:
        context = chromium.new_context(viewport={"width": width, "height": 900})
        tab = context.new_page()
        tab.base = live_server.url
        tab.shots = f"{request.node.originalname}-{request.param}"
        errors = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("requestfailed", lambda req: errors.append(f"{req.url}: {req.failure}"))
        yield tab
        # The test's own ORM calls after Playwright started ran in Playwright's context, on a
        # connection of their own: closed here, or the test database could not be dropped.
        connections.close_all()
        context.close()
        assert not errors, errors


def shoot(page, name: str) -> None:
    """A full-page screenshot, and the page never wider than the window (no sideways scrolling on a phone)."""
    page.screenshot(path=str(browser.output_dir() / f"{page.shots}-{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name} is {width}px wide"


def log_in(page, username: str) -> None:
    page.goto(page.base + "/console/")
    assert "/console/login/" in page.url
    shoot(page, "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/$"))


def test_admin_runs_the_platform_from_the_console(console_admin, alice_app, bob_app, page):
    log_in(page, "root-admin")
    assert page.locator("text=Platform health").is_visible()
    assert page.locator(".host-head >> text=host-one").is_visible()
    shoot(page, "dashboard")

    page.goto(page.base + "/console/apps/?q=alice")
    assert page.locator("table.apps >> text=alice-app").is_visible()
    assert page.locator("table.apps >> text=bob-app").count() == 0
    shoot(page, "apps")

    page.click("text=alice-app")
    page.wait_for_url(re.compile(r".*/console/apps/alice-app/$"))
    assert page.locator("#live-release").inner_text() == "v2"
    assert "s3cr3t" not in page.content()
    shoot(page, "app")

    page.click("button.reveal")
    page.wait_for_selector("td.value >> text=s3cr3t-value-of-alice-app")

    page.fill("#config form.stack input[name=key]", "GREETING")
    page.fill("#config textarea[name=value]", "hello")
    page.click("#config button:has-text('Set (new release)')")
    page.wait_for_selector(".messages >> text=Set GREETING config var")
    assert App.objects.get(name="alice-app").releases.first().config.values["GREETING"] == "hello"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Roll back to v2')")
    page.wait_for_selector(".messages >> text=Rollback to v2")
    shoot(page, "app-after-rollback")

    page.fill("#scale input[name=quantity]", "2")
    page.click("#scale button:has-text('Scale web')")
    page.wait_for_selector(".messages >> text=web=2:small")
    assert Formation.objects.get(app__name="alice-app", process_type="web").quantity == 2

    page.click("#builds a")
    page.wait_for_selector("#build-output >> text=built")
    shoot(page, "build")

    page.goto(page.base + "/console/hosts/?host=host-one")
    assert page.locator("text=Instances on host-one").is_visible()
    shoot(page, "hosts")

    for name in ("users", "teams", "tokens", "events", "logs"):
        page.goto(f"{page.base}/console/{name}/")
        shoot(page, name)

    page.goto(page.base + "/console/tokens/")
    page.fill("input[name=description]", "from the browser")
    page.click("button:has-text('Create token')")
    assert page.locator("#new-token-secret").inner_text().startswith("paas_")


def test_logs_tail_live_and_search_refusals_show(console_alice, alice_app, page):
    log_in(page, "alice")
    assert page.locator("nav >> text=Hosts").count() == 0
    page.goto(page.base + "/console/apps/alice-app/logs/")
    write_platform_line("alice-app", "a line written while the page watches")
    page.wait_for_selector("#tail >> text=a line written while the page watches")
    shoot(page, "logs-tail")
    page.fill("input[name=q]", 'status:>=500 "unclosed')
    page.click("button:has-text('Search')")
    page.wait_for_selector(".error-message")
    shoot(page, "logs-search")


def test_a_user_is_refused_another_users_app(console_alice, alice_app, bob_app, page):
    log_in(page, "alice")
    response = page.goto(page.base + "/console/apps/bob-app/")
    assert response.status == 403
    assert page.locator("text=do not have access").is_visible()
    shoot(page, "refused")
    assert os.path.exists(browser.output_dir())
