"""The hosts page (admins): capacity, instances and heartbeat of every host."""

from django.shortcuts import render

from paas.platform.models import Instance
from paas.web.guard import console_view
from paas.web.hosts import host_rows


@console_view(admin=True)
def host_list(request):
    hosts = host_rows()
    chosen = request.GET.get("host", "")
    instances = []
    if chosen:
        instances = (Instance.objects.filter(host__name=chosen).exclude(state=Instance.STOPPED)
                     .select_related("app", "release").order_by("app__name", "process_type", "number")[:500])
    return render(request, "console/hosts.html", {"hosts": hosts, "chosen": chosen, "instances": instances})
