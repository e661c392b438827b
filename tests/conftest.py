"""Shared test set-up: the real PostgreSQL and Redis named by DATABASE_URL / REDIS_URL."""

import os

import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per run: two runs on one machine (CI and a developer) never collide."""
    from django.conf import settings

    test = settings.DATABASES["default"].setdefault("TEST", {})
    test["NAME"] = f"test_{settings.DATABASES['default']['NAME']}_{os.getpid()}"


# The end-to-end platform (git server, build worker, control loop, agent, router) is one per
# session, shared by every folder whose tests push real apps (tests/e2e, tests/security); the
# network sandbox (a bridge of the test's own, "the outside" a namespace) serves tests/runtime and tests/security.
pytest_plugins = ["tests.e2e.fixtures", "tests.netsandbox"]
