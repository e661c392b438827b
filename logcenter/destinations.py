"""Where a drain or an alert's webhook may send lines: the one check of a user's URL.

A drain URL names a scheme we speak and a host. Its addresses must be public: a tenant must not
point the platform's own process at the platform's databases, Redis, API or a neighbour's service
on the host's network (SSRF). Loopback, private, link-local, multicast and reserved ranges are
refused unless the admin allowed them in ``PAAS_LOG_DRAIN_ALLOW`` (CIDRs, e.g. ``127.0.0.0/8``
for a syslog server on the host). The check runs when a drain is added (a clear 400) and again
on every connect, on the addresses actually used (a name may resolve elsewhere later).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# scheme -> (transport, TLS, default port)
SCHEMES = {
    "syslog": ("syslog", False, 514),
    "syslog+tls": ("syslog", True, 6514),
    "https": ("https", True, 443),
    "loki": ("loki", False, 3100),
    "loki+https": ("loki", True, 443),
}
# An alert's webhook: a JSON POST.
WEBHOOK_SCHEMES = {
    "https": ("webhook", True, 443),
    "http": ("webhook", False, 80),
}
MAX_URL = 2048


class DestinationError(ValueError):
    """A URL that cannot be used; the message names why (never the URL's credentials)."""


@dataclass(frozen=True)
class Destination:
    url: str
    kind: str            # "syslog", "https" or "loki"
    tls: bool
    host: str
    port: int
    path: str            # https, loki: the request path (loki: /loki/api/v1/push when none given)
    username: str = ""
    password: str = ""

    def redacted(self) -> str:
        """The URL without its password, for lists and errors."""
        if not self.password:
            return self.url
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{self.username}:***@{rest.split('@', 1)[1]}"


def parse(url: str, schemes: dict = SCHEMES) -> Destination:
    """A drain (or, with WEBHOOK_SCHEMES, webhook) URL checked for form (not yet for addresses: ``addresses``)."""
    if not isinstance(url, str) or not url:
        raise DestinationError("url: wanted")
    if len(url) > MAX_URL or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise DestinationError(f"url: at most {MAX_URL} characters, without spaces or control characters")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in schemes:
        raise DestinationError(f"url: unknown scheme {scheme[:20]!r} (use {', '.join(s + '://' for s in schemes)})")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationError("url: not a valid URL (host or port)") from None
    kind, tls, default_port = schemes[scheme]
    if not parts.hostname:
        raise DestinationError("url: has no host")
    path = parts.path or ("/loki/api/v1/push" if kind == "loki" else "/")
    if parts.query:
        path += "?" + parts.query
    return Destination(url=url, kind=kind, tls=tls, host=parts.hostname, port=port or default_port, path=path,
                       username=unquote(parts.username or ""), password=unquote(parts.password or ""))


def allowed_networks(text: str) -> list:
    """``PAAS_LOG_DRAIN_ALLOW``: comma-separated CIDRs the admin lets drains reach."""
    out = []
    for item in text.split(","):
        if item.strip():
            out.append(ipaddress.ip_network(item.strip(), strict=False))
    return out


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def addresses(dest: Destination, allowed: list, resolve=socket.getaddrinfo) -> list[tuple[str, int]]:
    """The (address, port) pairs to connect to; refused when any is not public nor allowed by the admin."""
    try:
        infos = resolve(dest.host, dest.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise DestinationError(f"url: the host {dest.host[:100]!r} does not resolve") from None
    found = []
    for info in infos:
        address = info[4][0]
        if not is_public(address) and not any(ipaddress.ip_address(address) in net for net in allowed):
            raise DestinationError(f"url: {dest.host[:100]} is a private address ({address}); an admin may allow "
                                   "it with PAAS_LOG_DRAIN_ALLOW")
        if (address, dest.port) not in found:
            found.append((address, dest.port))
    return found


def check(url: str, allowed: list, schemes: dict = SCHEMES) -> Destination:
    """``parse`` then ``addresses``: what the API does when a drain or an alert is added."""
    dest = parse(url, schemes)
    addresses(dest, allowed)
    return dest
