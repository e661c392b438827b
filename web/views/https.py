"""An app's HTTPS from its page: certificates (upload, remove), automatic certificates, redirect and HSTS.

Each form calls the action the API calls (actions/certs.py, actions/https.py) after the API's
access check, so the checks of a certificate, a key or a max-age are theirs, worded as theirs;
this module only turns form fields into the values those actions take.
"""

from django.views.decorators.http import require_POST

from paas.pki.uploaded import MAX_PEM_BYTES
from paas.platform.actions import access
from paas.platform.actions.certs import add_certificate, remove_certificate, set_auto_certificates
from paas.platform.actions.https import set_https
from paas.platform.exceptions import Invalid
from paas.web.guard import console_view, done
from paas.web.views.app_actions import field, page_of

SWITCH = {"on": True, "off": False}


def pem_text(request, name: str) -> str:
    """A PEM field: the file chosen for it if any, else the text pasted in its box.

    A file is read to one byte past the limit the certificate check enforces, so an oversized
    one is refused by that check (with its message), and never read whole into memory."""
    upload = request.FILES.get(f"{name}_file")
    if upload is None:
        return request.POST.get(name, "")
    data = upload.read(MAX_PEM_BYTES + 1)
    # Not UTF-8 is not PEM: replaced characters make the check say so, in its words.
    return data.decode("utf-8", "replace")


def switch(request, name: str) -> bool:
    value = field(request, name, 10)
    if value not in SWITCH:
        raise Invalid(f"{name} must be on or off")
    return SWITCH[value]


def hsts_value(request):
    """The max-age field as the action takes it: empty is no HSTS, digits are seconds; anything else is
    handed over as it is, for set_https to refuse with its own message."""
    text = field(request, "max_age", 20).strip()
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() else text


@require_POST
@console_view()
def cert_add(request, app):
    target = access.get_app(request.user, app)
    cert = add_certificate(request.user, target, pem_text(request, "certificate"), pem_text(request, "key"))
    return done(request, f"Added certificate {cert.name} for {', '.join(cert.names)}, expiring "
                         f"{cert.not_after:%Y-%m-%d}", page_of(target.name))


@require_POST
@console_view()
def cert_remove(request, app):
    target = access.get_app(request.user, app)
    name = field(request, "cert", 64)
    remove_certificate(request.user, target, name)
    return done(request, f"Removed certificate {name}", page_of(target.name))


@require_POST
@console_view()
def certs_auto(request, app):
    target = access.get_app(request.user, app)
    enabled = switch(request, "enabled")
    set_auto_certificates(request.user, target, enabled)
    return done(request, f"Automatic certificates {'on' if enabled else 'off'}", page_of(target.name))


@require_POST
@console_view()
def https_redirect(request, app):
    target = access.get_app(request.user, app)
    enabled = switch(request, "redirect")
    set_https(request.user, target, redirect=enabled)
    return done(request, f"HTTPS redirect {'on' if enabled else 'off'}", page_of(target.name))


@require_POST
@console_view()
def hsts(request, app):
    target = access.get_app(request.user, app)
    changed = set_https(request.user, target, hsts_max_age=hsts_value(request))
    said = "HSTS off" if changed.hsts_max_age is None else f"HSTS max-age={changed.hsts_max_age}"
    return done(request, said, page_of(target.name))
