"""Uploaded certificates into Redis for the router (contracts: ``tls:certs``), level-triggered.

Each verified custom domain gets the newest unexpired certificate of its app whose names cover
it; a domain no certificate covers is left out (the router then refuses its SNI rather than
show a certificate for another name). Written by the control loop with the route table.
"""

import json

from django.utils import timezone

from paas.contracts import redis_keys
from paas.pki.uploaded import covers
from paas.platform.models import Certificate, Domain


def desired_certificates() -> dict[str, str]:
    """hostname -> JSON {"chain", "key"} of the certificate the router should serve for it."""
    newest_first = list(Certificate.objects.filter(not_after__gt=timezone.now()).order_by("-created_at"))
    out = {}
    for domain in Domain.objects.filter(verified_at__isnull=False).only("hostname", "app_id"):
        cert = next((c for c in newest_first if c.app_id == domain.app_id
                     and any(covers(name, domain.hostname) for name in c.names)), None)
        if cert is not None:
            out[domain.hostname] = json.dumps({"chain": cert.chain_pem, "key": cert.key_pem}, sort_keys=True)
    return out


def publish_certificates(redis, prefix: str) -> bool:
    """Make ``tls:certs`` hold exactly the desired certificates; True if it changed."""
    key = redis_keys.tls_certificates(prefix)
    desired = desired_certificates()
    current = {k.decode(): v.decode() for k, v in redis.hgetall(key).items()}
    if current == desired:
        return False
    with redis.pipeline(transaction=True) as pipe:   # the router never sees a half-written set
        pipe.delete(key)
        if desired:
            pipe.hset(key, mapping=desired)
        pipe.execute()
    return True
