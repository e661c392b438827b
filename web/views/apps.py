"""The apps list (search and filters) and one app's page."""

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from paas.platform.actions import access
from paas.platform.actions.formation import known_process_types
from paas.platform.actions.https import MAX_HSTS_AGE
from paas.platform.actions.builds import get_build
from paas.platform.actions.certs import EXPIRY_WARNING_DAYS
from paas.platform.api.certs import auto_json
from paas.platform.models import Build, Canary, Release
from paas.platform.sizes import DEFAULT_SIZE, SIZES
from paas.web import addons, appstate
from paas.web.guard import console_view

PER_PAGE = 50


@console_view()
def app_list(request):
    """Apps the user may see; ?q= searches names, ?state= and ?owner= (a user or team) filter."""
    search = request.GET.get("q", "").strip()[:30]
    state = request.GET.get("state", "")
    owner = request.GET.get("owner", "").strip()[:150]
    chosen = state if state in appstate.STATES else ""
    rows = appstate.app_rows(request.user, search=search, state=chosen, owner=owner)
    if chosen:
        # A state is decided per app over all of them, so the paginator's count and its page would each
        # decide it for every app: read the matching rows once and page through them in memory.
        rows = list(rows)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "console/apps.html", {"page": page, "q": search, "state": state, "owner": owner,
                                                 "states": appstate.STATES})


@console_view()
def app_page(request, app):
    """Everything about one app the API would show its members; values of config vars stay masked."""
    target = access.get_app(request.user, app)
    # Not the builds' output: a build's log can be megabytes, and the page shows none of it.
    releases = list(target.releases.select_related("build", "config", "created_by").defer("build__output")[:20])
    latest = releases[0] if releases else None
    live = next((r for r in releases if r.status == Release.SUCCEEDED), None)
    instances = (target.instances.exclude(state="stopped").select_related("release", "host")
                 .order_by("process_type", "number"))
    formation = {f.process_type: f for f in target.formation.all()}
    types = sorted(known_process_types(target, latest) | formation.keys())
    scale = [{"type": t, "quantity": formation[t].quantity if t in formation else 0,
              "size": formation[t].size if t in formation else DEFAULT_SIZE,
              "stopped": formation[t].stopped if t in formation else False} for t in types]
    scalers = {a.process_type: a for a in target.autoscalers.all()}
    canary = Canary.objects.filter(app=target).select_related("release").first()
    context = {
        "app": target,
        "latest": latest,
        "live": live,
        "releases": releases,
        "instances": instances,
        "builds": target.builds.defer("output")[:10],
        "config_keys": sorted(latest.config.values) if latest else [],
        "scale": scale,
        "sizes": SIZES,
        "domains": target.domains.all(),
        **https_section(target),
        "autoscale": [{"type": t, "scaler": scalers.get(t)} for t in sorted(set(types) | scalers.keys())],
        "canary": canary,
        "canary_choices": [r for r in releases if r != live and r.build and "web" in r.process_types],
        "collaborators": target.collaborators.select_related("user"),
        "can_manage": access.can_manage(request.user, target),
        **addons.of_app(target),
    }
    return render(request, "console/app.html", context)


def https_section(app) -> dict:
    """Certificates with their days left, and automatic certificates as the API shows them (auto_json: each
    verified domain's last order and the CA's error)."""
    now = timezone.now()
    # Never the key, nor the chain: the page shows neither.
    certificates = list(app.certificates.defer("key_pem", "chain_pem").order_by("not_after"))
    for cert in certificates:
        cert.days_left = int((cert.not_after - now).total_seconds() // 86400)
        cert.expiring = cert.days_left <= EXPIRY_WARNING_DAYS
    return {"certificates": certificates, "acme": auto_json(app), "acme_on_platform": bool(settings.PAAS_ACME_DIRECTORY),
            "max_hsts": MAX_HSTS_AGE}


@console_view()
def build_page(request, app, build):
    """One build and its output; the page follows the output while the build runs."""
    target = access.get_app(request.user, app)
    found = get_build(target, build)
    return render(request, "console/build.html", {"app": target, "build": found,
                                                  "running": found.status not in Build.FINISHED})
