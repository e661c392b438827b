"""Custom domains: claim, verify (a DNS TXT record), list with their state, remove."""

from asgiref.sync import sync_to_async

from paas.platform import dnsproof
from paas.platform.actions import access
from paas.platform.actions.domains import add_domain, claim_to_verify, confirm_domain, remove_domain
from paas.platform.api.longpoll import waiting
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


def pending_claim(request, app, hostname):
    return claim_to_verify(access.get_app(request.user, app), hostname)


async def verify(request, app, hostname):
    """Check the TXT record at _paas-verify.<hostname>; route the domain once it holds the claim's token."""
    domain = await sync_to_async(pending_claim)(request, app, hostname)
    values = None
    if domain.verified_at is None:
        # The lookup waits on the event loop, and counts as one of the user's long requests.
        values = await waiting(request.user, dnsproof.longest_s(), lambda _: dnsproof.txt_strings(domain.record_name))
    return await sync_to_async(confirmed_json)(request.user, domain, values)


def confirmed_json(user, domain, values) -> dict:
    return domain_json(confirm_domain(user, domain, values))


def destroy(request, app, hostname):
    """Stop routing a custom hostname to the app and forget the claim."""
    target = access.get_app(request.user, app)
    remove_domain(request.user, target, hostname)
    return {"removed": hostname}
