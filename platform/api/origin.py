"""Where the caller reached the platform, for the URLs the API hands back."""

from django.conf import settings


def git_base(request) -> str:
    """The base of git URLs for this caller.

    A caller on the router's TLS port (paas.<base>, whose git paths go to the git receiver) pushes over that
    same origin, so a token never travels in clear text after an HTTPS login; X-Forwarded-Proto is written by
    the router itself and Host is checked against ALLOWED_HOSTS by Django. PAAS_PUBLIC_GIT_URL, when an
    operator sets it, wins.
    """
    if settings.PAAS_PUBLIC_GIT_URL or not request.is_secure():
        return settings.PAAS_GIT_URL
    return f"https://{request.get_host()}"
