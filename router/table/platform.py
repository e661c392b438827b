"""The platform's own endpoints behind the router: ``paas.<base-domain>`` -> API and console, or git receiver.

Not from the Redis table: the upstreams are the router's settings (``PAAS_ROUTER_PLATFORM_API``,
``PAAS_ROUTER_PLATFORM_GIT``), like an nginx upstream, so the platform is reachable over TLS
before Platform Control has published anything. ``paas`` is a reserved app name
(platform/names.py): no app or custom domain can take the host, and an entry Redis might hold
under that name is ignored. Git's smart HTTP paths (``/<app>.git/...``) go to the git
receiver, everything else to the API.
"""

from paas.router.table.routes import AppRoute, Backend, RouteTable

PLATFORM_APP = "paas"
# The platform's own servers hold bodies to their own limits once the caller's token checks out: the git
# receiver a push to PAAS_MAX_PUSH_BYTES, the API each endpoint's (platform/bodycap.py; an image archive
# takes up to PAAS_MAX_IMAGE_ARCHIVE_BYTES). The router's app-sized PAAS_ROUTER_MAX_BODY would refuse
# over HTTPS what their plain ports take.
PLATFORM_BODY_LIMIT = 1 << 62
# A push's response is its build's output: the receiver indexes a large pack before its first byte, and
# a build may be quiet for minutes (a wheel compiling). Its own time limit (CELERY_TASK_TIME_LIMIT) bounds it.
GIT_PATIENCE_S = 1800.0


def platform_host(base_domain: str) -> str:
    return f"{PLATFORM_APP}.{base_domain}"


def upstream_route(name: str, address: tuple[str, int] | None, redirect: bool, patience: float = 0.0) -> AppRoute:
    """A route of one fixed backend (none: 503); ``redirect``: plain HTTP goes to HTTPS, so tokens never
    cross in clear."""
    backends = [Backend(id=f"{PLATFORM_APP}-{name}", address=address[0], port=address[1], release=0)] if address else []
    return AppRoute(app=PLATFORM_APP, https_redirect=redirect, backends=backends, uniform=bool(backends),
                    body_limit=PLATFORM_BODY_LIMIT, patience=patience)


def install(table: RouteTable, api: tuple[str, int] | None, git: tuple[str, int] | None, redirect: bool) -> None:
    """Route ``paas.<base>`` in ``table`` to the API and git paths to the git receiver (either may be off)."""
    table.set_fixed(platform_host(table.base_domain), PLATFORM_APP, upstream_route("api", api, redirect),
                    upstream_route("git", git, redirect, GIT_PATIENCE_S))
