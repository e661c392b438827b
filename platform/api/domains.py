"""Custom domains: claim, verify (a DNS TXT record), list with their state, remove."""

from paas.platform.actions import access
from paas.platform.actions.domains import add_domain, remove_domain, verify_domain
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import domain_json


def list_domains(request, app):
    """The app's custom domains: pending or verified, with the TXT record that proves each."""
    target = access.get_app(request.user, app)
    return [domain_json(d) for d in target.domains.select_related("app")]


@body_schema({"hostname": "string", "skip_verification": "boolean (admins only: route without the DNS check)"})
def create(request, app):
    """Claim a custom hostname for the app; it is routed once verified."""
    target = access.get_app(request.user, app)
    domain = add_domain(request.user, target, request.data.get("hostname"),
                        skip_verification=request.data.get("skip_verification", False))
    return 201, domain_json(domain)


def verify(request, app, hostname):
    """Check the TXT record at _paas-verify.<hostname>; route the domain once it holds the claim's token."""
    target = access.get_app(request.user, app)
    return domain_json(verify_domain(request.user, target, hostname))


def destroy(request, app, hostname):
    """Stop routing a custom hostname to the app and forget the claim."""
    target = access.get_app(request.user, app)
    remove_domain(request.user, target, hostname)
    return {"removed": hostname}
