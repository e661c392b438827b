"""An app's request metrics as charts: the API's own handler (platform/api/metrics.py) answers, so the
access rule, the range limits and the refusals are the API's; web/charts.py draws the answer."""

from django.shortcuts import render

from paas.platform.actions import access
from paas.platform.api import metrics as api_metrics
from paas.platform.exceptions import PlatformError
from paas.web import charts
from paas.web.guard import console_view

MAX_MARKERS = 50


def deploys(target, answer: dict) -> list:
    """The app's releases made within the answer's range: where a deploy began, as (time, "vN")."""
    since, until = charts.parse_time(answer["since"]), charts.parse_time(answer["until"])
    rows = (target.releases.filter(created_at__gte=since, created_at__lte=until)
            .order_by("-version").values_list("created_at", "version")[:MAX_MARKERS])
    return [(created_at, f"v{version}") for created_at, version in rows]


@console_view()
def app_metrics(request, app):
    target = access.get_app(request.user, app)
    context = {"app": target, "since": request.GET.get("since", ""), "until": request.GET.get("until", ""),
               "release": request.GET.get("release", "")}
    try:
        answer = api_metrics.show(request, target.name)
    except PlatformError as error:
        context["metrics_error"] = error.message
        return render(request, "console/metrics.html", context, status=error.status)
    context.update(answer=answer, charts=charts.build(answer, deploys(target, answer)),
                   range=charts.range_label(answer))
    return render(request, "console/metrics.html", context)
