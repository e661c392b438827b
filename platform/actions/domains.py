"""Custom domains routed to an app."""

from django.conf import settings
from django.db import IntegrityError, transaction

from paas.platform.actions.events import record
from paas.platform.control.loop import wake
from paas.platform.exceptions import Conflict, Invalid, NotFound
from paas.platform.models import App, Domain
from paas.platform.names import check_hostname


def add_domain(user, app: App, hostname: str) -> Domain:
    host = check_hostname(hostname)
    base = settings.PAAS_BASE_DOMAIN
    if host == base or host.endswith("." + base):
        raise Invalid(f"{host} is under the platform's own domain {base}; apps get <name>.{base} already")
    try:
        with transaction.atomic():
            domain = Domain.objects.create(hostname=host, app=app)
            record(user, "domain.add", f"added domain {host}", app=app, hostname=host)
            transaction.on_commit(wake)
    except IntegrityError:
        raise Conflict(f"domain {host} is already in use") from None
    return domain


def remove_domain(user, app: App, hostname: str) -> None:
    host = check_hostname(hostname)
    with transaction.atomic():
        deleted, _ = Domain.objects.filter(app=app, hostname=host).delete()
        if not deleted:
            raise NotFound(f"domain {host} is not attached to {app.name}")
        record(user, "domain.remove", f"removed domain {host}", app=app, hostname=host)
        transaction.on_commit(wake)
