"""Fixtures of the console's tests: apps with history, logged-in test clients, browser tabs (registered in
tests/conftest.py)."""

import uuid

import pytest
from django.db import connections
from django.test import Client

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import change_config
from paas.platform.actions.releases import create_release
from paas.platform.models import App, Build, Formation, Host, Instance
from tests.web import browser

# The users (alice, bob, root) and own_redis_keys are tests/platform/accounts.py's fixtures.


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def deployed_app(owner, name: str, host: Host | None = None) -> App:
    """An app with a build, a release live with web=1 up (on ``host``) and a config var: what a push leaves."""
    from django.db import transaction

    app = create_app(owner, name)
    build = Build.objects.create(app=app, commit="a" * 40, ref="refs/heads/main", status=Build.SUCCEEDED,
                                 buildpack="python", process_types={"web": "python app.py"}, output="-----> built\n")
    with transaction.atomic():
        release = create_release(app, user=owner, build=build, config=app.configs.first(), summary="Deploy aaaaaaa")
    Release = type(release)
    Release.objects.filter(pk=release.pk).update(status=Release.SUCCEEDED)
    change_config(owner, app, {"SECRET_KEY": "s3cr3t-value-of-" + name})
    Formation.objects.create(app=app, process_type="web", quantity=1)
    Instance.objects.create(name=f"{name}-web-1-{uuid.uuid4().hex[:6]}", app=app, release=release, process_type="web",
                            number=1, size="small", memory_mb=256, cpus=0.25, host=host, state=Instance.UP)
    return app


@pytest.fixture
def console_host(db):
    from django.utils import timezone

    return Host.objects.create(name="host-one", address="10.0.0.1", memory_mb=4096, cpus=4,
                               last_heartbeat=timezone.now(), stacks=["host"])


def heartbeat(name: str = "host-one") -> None:
    """The console's host is alive now: the session's control loop (tests/e2e) marks a host silent for
    PAAS_HOST_DOWN_AFTER_S (30 s) down, and a long browser test outlives that."""
    from django.utils import timezone

    Host.objects.filter(name=name).update(last_heartbeat=timezone.now(), state=Host.UP)


@pytest.fixture
def alice_app(alice, console_host):
    return deployed_app(alice, "alice-app", console_host)


@pytest.fixture
def bob_app(bob, console_host):
    return deployed_app(bob, "bob-app", console_host)


@pytest.fixture
def alice_client(alice):
    return logged_in(alice)


@pytest.fixture
def bob_client(bob):
    return logged_in(bob)


@pytest.fixture
def admin_console(root):
    return logged_in(root)


@pytest.fixture
def playwright_beside_the_orm(monkeypatch):
    """Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are plain sync code.

    The live server's request threads close their database connection at the end of each
    request (not when the browser's keep-alive connection ends, which may be after the test
    database is dropped)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


@pytest.fixture(params=list(browser.WIDTHS))
def console_page(request, live_server, playwright_beside_the_orm):
    """A chromium tab on the console served by the live server, at each width of browser.WIDTHS."""
    width = browser.WIDTHS[request.param]
    with browser.chromium() as chromium:
        context = chromium.new_context(viewport={"width": width, "height": 900})
        tab = context.new_page()
        tab.base = live_server.url
        tab.shots = f"{request.node.originalname}-{request.param}"
        errors = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("requestfailed", lambda req: errors.append(f"{req.url}: {req.failure}")
               if req.failure not in browser.NOT_THE_CONSOLES_FAULT else None)
        yield tab
        # The test's own ORM calls after Playwright started ran in Playwright's context, on a
        # connection of their own: closed here, or the test database could not be dropped.
        connections.close_all()
        context.close()
        assert not errors, errors
