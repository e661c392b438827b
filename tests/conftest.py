"""Shared test set-up: the real PostgreSQL and Redis named by DATABASE_URL / REDIS_URL."""

import os

# The runtime the tests drive in-process (containers, bridges, cgroups) is a sandbox of its own,
# never the platform's: set before any test module imports paas.runtime, which reads its settings
# once (a module of tests/compose or tests/platform may import it before tests/runtime is reached).
# The platform processes the e2e and make-up tests start drop these and use the defaults.
os.environ["PAAS_RUNTIME_DIR"] = "/tmp/paas-runtime-tests/runtime"
os.environ["PAAS_CGROUP_PARENT"] = "paas-tests"
os.environ["PAAS_BRIDGE"] = "paastest0"
os.environ["PAAS_ADDRESS_POOL"] = "10.214.0.0/16"
# The docker backend's networks in the session's engine (tests/dockerd.py): bridges and a pool of their own.
os.environ["PAAS_DOCKER_BRIDGE"] = "ptestd"
os.environ["PAAS_DOCKER_POOL"] = "10.231.0.0/16"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per run: two runs on one machine (CI and a developer) never collide."""
    from django.conf import settings

    test = settings.DATABASES["default"].setdefault("TEST", {})
    test["NAME"] = f"test_{settings.DATABASES['default']['NAME']}_{os.getpid()}"


# The end-to-end platform (git server, build worker, control loop, agent, router) is one per
# session, shared by every folder whose tests push real apps (tests/e2e, tests/security); the
# network sandbox (a bridge of the test's own, "the outside" a namespace) serves tests/runtime and tests/security;
# users, tokens and the API client (tests/platform/accounts.py) serve every folder that calls the API;
# the console's users, apps and browser tabs (tests/web/fixtures.py) serve tests/web; the add-on
# servers' agent and hosts (tests/services/fixtures.py) serve tests/services; paas-logs as a process
# (tests/logcenter/process.py) serves the API's and the console's log and metrics tests; one Docker engine
# (tests/dockerd.py) serves the docker backend's and the exports' tests in tests/runtime and tests/e2e.
# A second machine with an agent of its own (tests/e2e/secondhost.py) serves the two-host e2e tests.
pytest_plugins = ["tests.platform.accounts", "tests.e2e.fixtures", "tests.netsandbox", "tests.web.fixtures",
                  "tests.services.fixtures", "tests.logcenter.process", "tests.registry", "tests.dockerd",
                  "tests.e2e.secondhost"]

# The forky stack is built by debootstrap in the setup of the first test that needs it (tests/buildpacks/
# conftest.py): minutes on a fresh machine, more than the 300 s a test gets. That one test gets the time.
FIRST_STACK_BUILD_TIMEOUT_S = 1800


@pytest.hookimpl(trylast=True)   # after pytest-django has put the database tests first: the order that runs
def pytest_collection_modifyitems(items):
    from pathlib import Path

    from tests.buildpacks.conftest import TEST_STACKS_DIR

    if (Path(TEST_STACKS_DIR) / "forky" / "stack.json").exists():
        return
    first = next((item for item in items if "_forky_stack_built" in getattr(item, "fixturenames", ())), None)
    if first is not None:
        first.add_marker(pytest.mark.timeout(FIRST_STACK_BUILD_TIMEOUT_S))
