"""Request metrics per release (the Log Center's, from router lines): ``GET /api/apps/<app>/metrics``."""

from paas.platform.actions import access
from paas.platform.api.logs import ask_logcenter


def show(request, app):
    """p50/p95/p99 latency, requests/s and 5xx rate per release and process type, over the range and per minute.

    ?since= (default 1h) and ?until= as for log search; ?release=v3 for one release."""
    target = access.get_app(request.user, app)
    return ask_logcenter({"op": "metrics", "app": target.name, "since": request.GET.get("since"),
                          "until": request.GET.get("until"), "release": request.GET.get("release"),
                          "not_before": target.created_at.isoformat()})
