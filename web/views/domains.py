"""An app's custom domains from its page: add, verify now, remove (the API's actions and access checks)."""

from django.views.decorators.http import require_POST

from paas.platform.actions import access
from paas.platform.actions.domains import add_domain, remove_domain
from paas.platform.api import domains as api_domains
from paas.web.guard import console_long_view, console_view, done
from paas.web.views.app_actions import field, page_of


@require_POST
@console_view()
def domain_add(request, app):
    target = access.get_app(request.user, app)
    domain = add_domain(request.user, target, field(request, "hostname", 253).strip())
    return done(request, f"Added {domain.hostname}: create TXT {domain.record_name} = {domain.token}",
                page_of(target.name))


@require_POST
@console_long_view
async def domain_verify(request, app):
    """Check the domain's TXT record now: the API's own verify, its DNS lookup waiting on the event loop."""
    hostname = field(request, "hostname", 253)
    domain = await api_domains.verify(request, app, hostname)
    return done(request, f"{domain['hostname']} is verified: it is routed to {domain['app']}", page_of(app))


@require_POST
@console_view()
def domain_remove(request, app):
    target = access.get_app(request.user, app)
    hostname = field(request, "hostname", 253)
    remove_domain(request.user, target, hostname)
    return done(request, f"Removed {hostname}", page_of(target.name))
