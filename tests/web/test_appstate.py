"""An app's state word (web/appstate.py): each state from the rows that decide it, first match winning, and
the list filter, the dashboard's counts and its attention list saying the same thing."""

import uuid

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.models import App, Formation, Instance, Release
from paas.web import appstate
from tests.web.fixtures import deployed_app


def new_release(app: App, status: str, with_build: bool = True) -> Release:
    latest = app.releases.order_by("-version").first()
    return Release.objects.create(app=app, version=latest.version + 1, config=latest.config, summary="next",
                                  build=latest.build if with_build else None, status=status)


def add_instance(app: App, state: str, kind: str = Instance.SERVICE) -> None:
    Instance.objects.create(name=f"{app.name}-{uuid.uuid4().hex[:8]}", app=app, release=app.releases.last(),
                            process_type="web", number=9, size="small", memory_mb=256, cpus=0.25, state=state,
                            kind=kind)


def deployed(owner, name: str, host) -> App:
    """fixtures.deployed_app with every release rolled out (its config change leaves the last one pending)."""
    app = deployed_app(owner, name, host)
    Release.objects.filter(app=app).update(status=Release.SUCCEEDED)
    return app


@pytest.fixture
def apps_in_every_state(root, console_host):
    """name → the state it must show; each app is deployed, then changed."""
    expected = {"s-up": "up", "s-nocode": "no code"}
    deployed(root, "s-up", console_host)
    create_app(root, "s-nocode")

    App.objects.filter(pk=deployed(root, "s-maint", console_host).pk).update(maintenance=True)
    add_instance(App.objects.get(name="s-maint"), Instance.CRASHED)  # maintenance hides everything else
    expected["s-maint"] = "maintenance"

    failed = deployed(root, "s-failed", console_host)
    new_release(failed, Release.FAILED)
    add_instance(failed, Instance.CRASHED)  # a failed rollout comes before its instances
    expected["s-failed"] = "failed rollout"

    new_release(deployed(root, "s-deploying", console_host), Release.DEPLOYING)
    new_release(deployed(root, "s-pending", console_host), Release.PENDING)
    expected.update({"s-deploying": "deploying", "s-pending": "deploying"})

    add_instance(deployed(root, "s-crashed", console_host), Instance.CRASHED)
    add_instance(deployed(root, "s-oom", console_host), Instance.OOM_KILLED)
    add_instance(deployed(root, "s-oneoff", console_host), Instance.CRASHED, kind=Instance.ONEOFF)
    expected.update({"s-crashed": "crashed", "s-oom": "crashed", "s-oneoff": "up"})  # a one-off's crash is its own

    Formation.objects.filter(app=deployed(root, "s-zero", console_host)).update(quantity=0)
    Formation.objects.filter(app=deployed(root, "s-stopped", console_host)).update(stopped=True)
    Formation.objects.filter(app=deployed(root, "s-starting", console_host)).update(quantity=2)
    expected.update({"s-zero": "sleeping", "s-stopped": "sleeping", "s-starting": "starting"})
    return expected


def test_each_state_is_decided_from_its_rows(root, apps_in_every_state):
    shown = {row["name"]: row["state"] for row in appstate.app_rows(root)}
    assert shown == apps_in_every_state


def test_filters_counts_and_attention_agree(root, apps_in_every_state):
    for state in appstate.STATES:
        names = {row["name"] for row in appstate.app_rows(root, state=state)}
        assert names == {n for n, s in apps_in_every_state.items() if s == state}, state
    counts, attention = appstate.overview(root, ("crashed", "failed rollout"), 2)
    assert counts == {s: list(apps_in_every_state.values()).count(s) for s in appstate.STATES
                      if s in apps_in_every_state.values()}
    assert attention == [("s-crashed", "crashed"), ("s-failed", "failed rollout")]  # by name, up to the limit


def test_the_list_shows_release_and_instance_counts(root, apps_in_every_state):
    row = next(r for r in appstate.app_rows(root, search="s-starting"))
    assert (row["up_count"], row["desired"]) == (1, 2)
    assert row["release_version"] == Release.objects.filter(app__name="s-starting").order_by("-version")[0].version


def test_a_state_filter_first_asks_what_its_branch_needs_but_never_counts_twice():
    """given_only_if: the condition of STATE's branch for that word (a crashed app has a crashed instance), none
    for the branch comparing instance counts nor for the default (starting), none for a word STATE never gives."""
    assert [str(q) for q in appstate.given_only_if("crashed")] == ["(AND: ('has_crashed', True))"]
    assert [str(q) for q in appstate.given_only_if("maintenance")] == ["(AND: ('maintenance', True))"]
    assert appstate.given_only_if("up") == []
    assert appstate.given_only_if("starting") == []
    assert appstate.given_only_if("on fire") == []
