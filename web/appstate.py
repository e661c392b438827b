"""An app's state in one word (up, crashed, deploying, failed rollout, sleeping, …), decided in the database.

The word is one SQL expression (``STATE``) over columns annotated on the apps a user may see
(access.visible_apps: the API's rule). Lists, filters, the dashboard's counts and the "needing
attention" list all use it, so they say the same thing and none of them loads every app
into Python: with a thousand apps, a page reads fifty rows, and the counts come back as a few.
"""

import functools
from collections import Counter

from django.db.models import Case, CharField, Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from paas.platform.actions import access
from paas.platform.models import App, Build, Formation, Instance, Release

STATES = ("up", "crashed", "deploying", "failed rollout", "sleeping", "starting", "maintenance", "no code")
CRASHED = (Instance.CRASHED, Instance.OOM_KILLED)
COUNTED = ("up_count", "desired")  # per-app counts (scalar subqueries), not hashed lookups
COLUMNS = ("pk", "name", "maintenance", "owner__username", "team__name", "release_version", "up_count", "desired",
           "state")

# First match wins: maintenance hides everything else; an app never built has nothing to run; the latest
# release's rollout comes before its instances (a failed rollout leaves the old ones up).
STATE = Case(
    When(maintenance=True, then=Value("maintenance")),
    When(built=False, then=Value("no code")),
    When(release_status=Release.FAILED, then=Value("failed rollout")),
    When(release_has_build=True, release_status__in=(Release.PENDING, Release.DEPLOYING), then=Value("deploying")),
    When(has_crashed=True, then=Value("crashed")),
    When(wants_instances=False, then=Value("sleeping")),
    When(up_count__gte=F("desired"), then=Value("up")),
    default=Value("starting"),
    output_field=CharField(),
)


def _whole(rows: QuerySet, function: str, column: str):
    """``function(column)`` over all of ``rows`` as a scalar subquery: written as a plain function, not as
    Django's aggregate, which would group each app's rows by app first (a group node per app; the admin's
    thousand states, A/B interleaved on bench/console.py's rows, min of 25: 21 -> 17 ms at load 6)."""
    total = rows.order_by().annotate(n=Func(F(column), function=function)).values("n")
    return Coalesce(Subquery(total, output_field=IntegerField()), 0)


def _count(**conditions):
    return _whole(Instance.objects.filter(app=OuterRef("pk"), kind=Instance.SERVICE, **conditions), "COUNT", "pk")


def with_state(apps: QuerySet) -> QuerySet:
    """``apps`` with ``state`` and what it is decided from: the latest release, instance counts, desired scale.

    "Any crashed" and "any wanted" are EXISTS tied to the app by its id alone, which PostgreSQL runs once
    over their table and looks up in a hash, instead of a count per app (with a thousand apps, the
    dashboard's counts). The latest release stays a per-app lookup: one index probe, cheaper than an
    anti-join over every release. Measured A/B interleaved in one process on bench/console.py's rows."""
    latest = Release.objects.filter(app=OuterRef("pk")).order_by("-version")
    wanted = Formation.objects.filter(app=OuterRef("pk"), stopped=False)
    return apps.annotate(
        release_version=Subquery(latest.values("version")[:1]),
        release_status=Subquery(latest.values("status")[:1]),
        release_has_build=Exists(Release.objects.filter(app=OuterRef("pk"), build__isnull=False)),
        built=Exists(Build.objects.filter(app=OuterRef("pk"), status=Build.SUCCEEDED)),
        # Whether any crashed, not how many.
        has_crashed=Exists(Instance.objects.filter(app=OuterRef("pk"), kind=Instance.SERVICE, state__in=CRASHED)),
        wants_instances=Exists(wanted.filter(quantity__gt=0)),  # desired > 0: quantities are never negative
        up_count=_count(state=Instance.UP),
        desired=_whole(wanted, "SUM", "quantity"),
    ).annotate(state=STATE)


@functools.cache
def _every_app() -> QuerySet:
    """with_state over every app, built once per process and never evaluated: each use filters a copy.

    Building the state's expression (eight subqueries resolved against App) was a few milliseconds of every
    view that shows states, the same work each time; filters on a copy give the same SQL."""
    return with_state(App.objects.all())


def visible(user) -> QuerySet:
    """The user's apps with their ``state``: a member's are DISTINCT over joins (collaborators, teams), which
    the state's subqueries must not see, so they are taken by id; an admin's are every app as they are,
    sparing the dashboard a join of every app with itself."""
    apps = access.visible_apps(user)
    if not apps.query.distinct and not apps.query.where:
        return _every_app().all()
    return _every_app().filter(pk__in=apps.values("pk"))


def app_rows(user, search: str = "", state: str = "", owner: str = "") -> QuerySet:
    """The apps ``user`` may see as rows (dicts) with a ``state``, filtered by name, state and owner or team."""
    rows = visible(user)
    if search:
        rows = rows.filter(name__icontains=search)
    if owner:
        rows = rows.filter(Q(owner__username=owner) | Q(team__name=owner))
    if state:
        rows = rows.filter(*given_only_if(state), state=state)
    return rows.order_by("name").values(*COLUMNS)


def given_only_if(state: str) -> list[Q]:
    """What must hold for an app to be in ``state``: the condition of STATE's own branch that gives it (first match
    wins, so that branch's condition held), filtered on first so PostgreSQL decides the whole state only of apps
    that can be in it: most have no crashed instance, and that test is one hashed lookup (the admin's
    ?state=crashed on bench/console.py's rows: 12.6 -> 2.7 ms of PostgreSQL CPU). Not a branch that compares
    instance counts: those cost as much as the state itself, and PostgreSQL would count twice (?state=up
    29 -> 36 ms)."""
    return [when.condition for when in STATE.cases
            if when.result.value == state and not _compares_counts(when.condition)]


def _compares_counts(condition: Q) -> bool:
    """Whether a branch's condition looks at a COUNTED input (by its lookups' names, nested conditions too)."""
    return any(_compares_counts(child) if isinstance(child, Q) else child[0].split("__")[0] in COUNTED
               for child in condition.children)


def overview(user, attention: tuple[str, ...], limit: int) -> tuple[dict[str, int], list[str]]:
    """How many of the user's apps are in each state (in STATES' order, none left out), and the names of up
    to ``limit`` apps in an ``attention`` state: one query of (name, state) pairs.

    Counted here, not with GROUP BY: PostgreSQL would evaluate the state's subqueries again to group."""
    pairs = visible(user).order_by("name").values_list("name", "state")
    counted, flagged = Counter(), []
    for name, state in pairs:
        counted[state] += 1
        if state in attention and len(flagged) < limit:
            flagged.append((name, state))
    return {name: counted[name] for name in STATES if counted[name]}, flagged
