"""An app's state in one word (up, crashed, deploying, failed rollout, sleeping, …), for many apps in one query.

The columns come from one annotated query over the apps a user may see (access.visible_apps:
the API's rule); the word is decided in plain code (``state_of``), so lists, filters and the
dashboard's counts all say the same thing.
"""

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from paas.platform.actions import access
from paas.platform.models import App, Build, Formation, Instance, Release

STATES = ("up", "crashed", "deploying", "failed rollout", "sleeping", "starting", "maintenance", "no code")
CRASHED = (Instance.CRASHED, Instance.OOM_KILLED)


def _count(**conditions) -> Subquery:
    rows = (Instance.objects.filter(app=OuterRef("pk"), kind=Instance.SERVICE, **conditions)
            .order_by().values("app").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def with_state_columns(apps: QuerySet) -> QuerySet:
    """``apps`` with what ``state_of`` needs: the latest release, instance counts and the desired scale."""
    latest = Release.objects.filter(app=OuterRef("pk")).order_by("-version")
    desired = (Formation.objects.filter(app=OuterRef("pk"), stopped=False).order_by().values("app")
               .annotate(n=Sum("quantity")).values("n"))
    return apps.annotate(
        release_version=Subquery(latest.values("version")[:1]),
        release_status=Subquery(latest.values("status")[:1]),
        release_has_build=Exists(latest.filter(build__isnull=False)[:1]),
        built=Exists(Build.objects.filter(app=OuterRef("pk"), status=Build.SUCCEEDED)),
        up_count=_count(state=Instance.UP),
        crashed_count=_count(state__in=CRASHED),
        desired=Coalesce(Subquery(desired, output_field=IntegerField()), 0),
    )


def state_of(row: dict) -> str:
    """One word for an app from its state columns (a row of ``app_rows``)."""
    if row["maintenance"]:
        return "maintenance"
    if not row["built"]:
        return "no code"
    if row["release_status"] == Release.FAILED:
        return "failed rollout"
    if row["release_has_build"] and row["release_status"] in (Release.PENDING, Release.DEPLOYING):
        return "deploying"
    if row["crashed_count"]:
        return "crashed"
    if row["desired"] == 0:
        return "sleeping"
    return "up" if row["up_count"] >= row["desired"] else "starting"


def app_rows(user, search: str = "", state: str = "", owner: str = "") -> list[dict]:
    """The apps ``user`` may see, as rows with a ``state``, filtered by name, state and owner/team."""
    apps = App.objects.filter(pk__in=access.visible_apps(user).values("pk"))
    if search:
        apps = apps.filter(name__icontains=search)
    if owner:
        apps = apps.filter(Q(owner__username=owner) | Q(team__name=owner))
    rows = with_state_columns(apps).values(
        "pk", "name", "maintenance", "owner__username", "team__name", "stack", "updated_at", "release_version",
        "release_status", "release_has_build", "built", "up_count", "crashed_count", "desired")
    found = []
    for row in rows:
        row["state"] = state_of(row)
        if not state or row["state"] == state:
            found.append(row)
    return found


def state_counts(rows: list[dict]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row["state"]] += 1
    return {name: n for name, n in counts.items() if n}
