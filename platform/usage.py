"""Accounting: instance-hours and memory-hours from instance start and stop times."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from paas.platform.models import Instance


def overlap_hours(started: datetime, stopped: datetime | None, since: datetime, until: datetime) -> float:
    """Hours of [started, stopped or until) that fall inside [since, until)."""
    begin = max(started, since)
    end = min(stopped or until, until)
    return max(0.0, (end - begin).total_seconds() / 3600)


def usage(apps, since: datetime, until: datetime | None = None) -> list[dict]:
    """One row per app, process type and size with instance-hours and memory GB-hours."""
    until = until or timezone.now()
    rows = (Instance.objects.filter(app__in=apps, started_at__isnull=False, started_at__lt=until)
            .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=since))
            .values_list("app__name", "app__team__name", "process_type", "size", "memory_mb", "started_at",
                         "stopped_at"))
    totals: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for app, team, process_type, size, memory_mb, started, stopped in rows:
        hours = overlap_hours(started, stopped, since, until)
        total = totals[(app, team, process_type, size)]
        total[0] += hours
        total[1] += hours * memory_mb / 1024
    return [
        {"app": app, "team": team, "type": process_type, "size": size,
         "instance_hours": round(hours, 4), "memory_gb_hours": round(memory, 4)}
        for (app, team, process_type, size), (hours, memory) in sorted(totals.items(), key=lambda kv: kv[0][:1] + kv[0][2:])
    ]


def by_team(rows: list[dict]) -> list[dict]:
    teams: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        if row["team"]:
            teams[row["team"]][0] += row["instance_hours"]
            teams[row["team"]][1] += row["memory_gb_hours"]
    return [{"team": t, "instance_hours": round(h, 4), "memory_gb_hours": round(m, 4)} for t, (h, m) in sorted(teams.items())]
