"""The DNS side of domain ownership: the TXT strings at a name, through the configured resolvers.

Resolvers come from PAAS_DNS_RESOLVERS (the system's when empty); every lookup ends within
PAAS_DNS_TIMEOUT_S. What a DNS server answers is someone else's data: it is compared, never
echoed, and at most MAX_TXT_RECORDS strings of it are looked at.
"""

import math

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
from django.conf import settings

from paas.platform.exceptions import Unavailable

MAX_TXT_RECORDS = 50


def longest_s() -> int:
    """Whole seconds a lookup may take at most."""
    return math.ceil(settings.PAAS_DNS_TIMEOUT_S)


def resolver() -> dns.asyncresolver.Resolver:
    """An asyncio resolver: a lookup waits on the event loop, holding no request thread."""
    configured = settings.PAAS_DNS_RESOLVERS
    if configured:
        chosen = dns.asyncresolver.Resolver(configure=False)
        chosen.nameservers = [dns.nameserver.Do53Nameserver(address, port) for address, port in configured]
    else:
        chosen = dns.asyncresolver.Resolver()  # the system's, from /etc/resolv.conf
    chosen.lifetime = settings.PAAS_DNS_TIMEOUT_S
    chosen.timeout = settings.PAAS_DNS_TIMEOUT_S
    chosen.cache = None  # a record just created must be seen by the next check
    return chosen


async def txt_strings(name: str) -> list[str] | None:
    """The TXT records at ``name``, each record's strings joined (as RFC 7208 reads them).

    None when there is no such record; Unavailable when no resolver answered in time.
    """
    try:
        answer = await resolver().resolve(dns.name.from_text(name), "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.Timeout:
        raise Unavailable(f"the DNS lookup of {name} timed out after {settings.PAAS_DNS_TIMEOUT_S:g} s; "
                          "try again in a moment") from None
    except dns.resolver.NoNameservers:
        raise Unavailable(f"no DNS server could answer for {name} (they failed or refused); "
                          "try again in a moment") from None
    except dns.exception.DNSException:
        raise Unavailable(f"the DNS lookup of {name} failed; try again in a moment") from None
    records = list(answer)[:MAX_TXT_RECORDS]
    return [b"".join(record.strings).decode("ascii", "replace") for record in records]
