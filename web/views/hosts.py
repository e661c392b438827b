"""The hosts page (admins): capacity, instances and heartbeat of every host; cordon, uncordon, drain."""

from django.shortcuts import render
from django.template.backends.utils import csrf_input
from django.views.decorators.http import require_POST

from paas.platform.actions.hosts import cordon, drain, get_host, uncordon
from paas.platform.models import Instance
from paas.web.guard import console_view, done
from paas.web.hosts import host_rows

INSTANCE_FIELDS = ("app__name", "process_type", "number", "release__version", "state", "memory_mb", "restarts")


@console_view(admin=True)
def host_list(request):
    hosts = host_rows()
    chosen = request.GET.get("host", "")
    instances = []
    if chosen:
        # Rows, not models: up to 500 of them, each needing seven values (models with their app and release
        # were most of this page's time).
        instances = (Instance.objects.filter(host__name=chosen).exclude(state=Instance.STOPPED)
                     .order_by("app__name", "process_type", "number")
                     .values(*INSTANCE_FIELDS)[:500])
    # Each host row has its own forms: Django's hidden CSRF field, made once (the same function its Jinja2
    # backend uses) instead of a {% csrf_token %} per form, which resolves the lazy token each time.
    return render(request, "console/hosts.html", {"hosts": hosts, "chosen": chosen, "instances": instances,
                                                  "csrf_input": csrf_input(request)})


def host_action(act, message: str):
    """A POST that runs one host action (actions/hosts.py checks the admin) and goes back to the hosts page."""

    @require_POST
    @console_view(admin=True)
    def view(request, host):
        target = get_host(request.user, host)
        result = act(request.user, target)
        detail = f" ({result} instances move elsewhere)" if isinstance(result, int) else ""
        return done(request, f"{message} {target.name}{detail}", "/console/hosts/")

    return view


cordon_view = host_action(cordon, "Cordoned")
uncordon_view = host_action(uncordon, "Uncordoned")
drain_view = host_action(drain, "Draining")
