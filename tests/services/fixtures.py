"""Fixtures of the add-on tests: two users speaking JSON to the API, and a host that is up."""

import os
import uuid

import pytest
from django.utils import timezone

from tests.platform.accounts import client_for, make_user


@pytest.fixture
def addon_users(db, settings):
    """(alice's client, bob's client), with Redis keys of this test alone."""
    settings.PAAS_REDIS_PREFIX = f"t{os.getpid()}-{uuid.uuid4().hex[:8]}:"
    return client_for(make_user("alice")), client_for(make_user("bob"))


@pytest.fixture
def up_host(db):
    """The one host add-on servers are placed on (nothing runs on it: these tests stop at the database)."""
    from paas.platform.models import Host

    Host.objects.all().update(state=Host.DOWN)
    return Host.objects.create(name=f"h-{uuid.uuid4().hex[:6]}", address="127.0.0.1", memory_mb=2048, cpus=2,
                               last_heartbeat=timezone.now(), stacks=["host"])


def app_with_slug(user, name: str, slug):
    """An app whose release v1 runs ``slug`` (an image already in the store) as a sleeping web process."""
    from paas.platform.models import App, Build, Config, Release

    app = App.objects.create(name=name, owner=user, stack="host")
    build = Build.objects.create(app=app, status=Build.SUCCEEDED, stack="host", slug_digest=slug.digest,
                                 process_types={"web": "sleep 600"})
    Release.objects.create(app=app, version=1, build=build, config=Config.objects.create(app=app, values={}),
                           summary="first")
    return app

