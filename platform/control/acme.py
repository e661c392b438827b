"""Automatic certificates (``paas certs:auto:enable``): which domains need an order, running one, the outcome.

Level-triggered like the rest of Platform Control: each tick ``schedule_due`` finds the verified
custom domains of apps with ACME on that have no ACME certificate, or one past two thirds of its
lifetime, and whose retry time has come; each gets one Celery task (``tasks/acme.py``), with a
lease (``acme_next_try``) so a lost task is ordered again later rather than never. ``run_order``
is what the task does: answers published to ``acme:challenges`` for the router, the order
(pki/acme_order.py), the certificate checked like an upload (pki/uploaded.py) and stored, or the
CA's error recorded on the domain and as a platform event, with a backoff before the next try.
"""

import datetime
import logging

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from paas.contracts import redis_keys
from paas.pki import challenges
from paas.pki.uploaded import CertificateError, covers, read_upload
from paas.platform.actions.events import record
from paas.platform.control.wake import wake
from paas.platform.models import Certificate, Domain
from paas.platform.redis_client import get_redis

log = logging.getLogger("paas.control.acme")

ORDERING, ISSUED, FAILED = "ordering", "issued", "failed"
# An order the CA has not finished in this long is taken as lost (a worker killed, a task dropped).
ORDER_LEASE = datetime.timedelta(minutes=15)
FIRST_RETRY = datetime.timedelta(minutes=5)
LAST_RETRY = datetime.timedelta(days=1)
MAX_ERROR = 1000   # characters of the CA's message kept and shown
# The Celery task (tasks/acme.py), sent by name: the task module imports this one.
TASK_NAME = "paas.platform.tasks.acme.order"


def renew_after(not_before: datetime.datetime, not_after: datetime.datetime) -> datetime.datetime:
    """Two thirds into the certificate's lifetime (30 days before the end of a 90-day one)."""
    return not_before + (not_after - not_before) * 2 / 3


def retry_delay(failures: int) -> datetime.timedelta:
    """Doubling from five minutes after each failed order in a row, at most a day (CAs rate-limit failures)."""
    doublings = min(max(failures - 1, 0), 16)   # 5 min * 2**9 is past a day already; no overflow
    return min(FIRST_RETRY * 2 ** doublings, LAST_RETRY)


def acme_domains():
    """Verified custom domains of apps with automatic certificates on."""
    return Domain.objects.filter(verified_at__isnull=False, app__acme=True)


def due_domains(now: datetime.datetime) -> list[Domain]:
    """ACME domains without a current ACME certificate (none, or one due for renewal) whose next try has come."""
    domains = list(acme_domains().exclude(acme_next_try__gt=now).select_related("app").order_by("pk"))
    current = Certificate.objects.filter(app_id__in={d.app_id for d in domains}, source=Certificate.ACME,
                                         renew_after__gt=now).values_list("app_id", "names")
    covered = {(app_id, name) for app_id, names in current for name in names}
    return [d for d in domains if (d.app_id, d.hostname) not in covered]


def schedule_due(now: datetime.datetime | None = None) -> int:
    """Send one order task per due domain (nothing when no directory is configured); how many."""
    if not settings.PAAS_ACME_DIRECTORY:
        return 0
    from paas.platform.celery import app as celery_app

    now = now or timezone.now()
    sent = 0
    for domain in due_domains(now):
        with transaction.atomic():
            # The lease: another loop's tick (or this one's next) does not order it again meanwhile.
            taken = Domain.objects.filter(pk=domain.pk).exclude(acme_next_try__gt=now).update(
                acme_status=ORDERING, acme_next_try=now + ORDER_LEASE)
            if taken:
                transaction.on_commit(lambda pk=domain.pk: celery_app.send_task(TASK_NAME, args=[pk]))
                sent += 1
    return sent


def publish_challenge(hostname: str, token: str, key_authorization: str) -> None:
    """Make the router answer ``token`` on ``hostname`` (refusing what the router would not serve)."""
    if not challenges.valid_key_authorization(token, key_authorization):
        raise ValueError("not a key authorization for this token")
    get_redis().hset(_key(), challenges.field(hostname, token), key_authorization)


def withdraw_challenge(hostname: str, token: str) -> None:
    """Stop answering ``token``; a failure is logged, not raised: a spent answer left behind serves nothing."""
    try:
        get_redis().hdel(_key(), challenges.field(hostname, token))
    except redis.RedisError as error:
        log.warning("ACME answer for %s not withdrawn: %s", hostname, error)


def _key() -> str:
    return redis_keys.acme_challenges(settings.PAAS_REDIS_PREFIX)


def run_order(domain_id: int, now: datetime.datetime | None = None) -> str:
    """Order a certificate for one domain now (the Celery task's body); the outcome, as a word."""
    from paas.pki.acme_order import AcmeFailure, order

    domain = Domain.objects.filter(pk=domain_id, verified_at__isnull=False, app__acme=True).select_related("app").first()
    if domain is None:
        return "skipped"   # unverified, removed or ACME turned off since it was scheduled
    host = domain.hostname
    try:
        chain, key = order(settings.PAAS_ACME_DIRECTORY, host,
                           lambda token, answer: publish_challenge(host, token, answer),
                           lambda token: withdraw_challenge(host, token),
                           verify=settings.PAAS_ACME_CA_BUNDLE or True, email=settings.PAAS_ACME_EMAIL)
        issued = read_upload(chain, key)
        if not any(covers(name, host) for name in issued.names):
            raise CertificateError(f"the CA's certificate is for {', '.join(issued.names)}, not {host}")
    except (AcmeFailure, CertificateError) as failure:
        _failed(domain, str(failure), now or timezone.now())
        return FAILED
    except redis.RedisError as error:
        # The answers could not be published (or withdrawn): the CA would have found nothing.
        _failed(domain, f"the platform could not publish the challenge answer (Redis: {error})", now or timezone.now())
        return FAILED
    _issued(domain, issued)
    return ISSUED


def _issued(domain: Domain, issued) -> None:
    name = issued.fingerprint.replace(":", "")[:16].lower()
    with transaction.atomic():
        Certificate.objects.filter(app_id=domain.app_id, source=Certificate.ACME, names=[domain.hostname]).delete()
        Certificate.objects.create(app_id=domain.app_id, name=name, fingerprint=issued.fingerprint,
                                   chain_pem=issued.chain_pem, key_pem=issued.key_pem, names=list(issued.names),
                                   not_after=issued.not_after, source=Certificate.ACME,
                                   renew_after=renew_after(issued.not_before, issued.not_after))
        Domain.objects.filter(pk=domain.pk).update(acme_status=ISSUED, acme_error="", acme_failures=0,
                                                   acme_next_try=None)
        record(None, "cert.acme.issued", f"certificate {name} issued by ACME for {domain.hostname}, expires "
               f"{issued.not_after:%Y-%m-%d}", app=domain.app, certificate=name, domain=domain.hostname)
        transaction.on_commit(wake)   # the next publish serves it


def _failed(domain: Domain, message: str, now: datetime.datetime) -> None:
    message = message[:MAX_ERROR]
    failures = domain.acme_failures + 1
    retry = now + retry_delay(failures)
    log.warning("ACME order for %s failed: %s", domain.hostname, message)
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).update(acme_status=FAILED, acme_error=message, acme_failures=failures,
                                                   acme_next_try=retry)
        record(None, "cert.acme.failed", f"ACME certificate for {domain.hostname} failed: {message} "
               f"(next try {retry:%Y-%m-%d %H:%M} UTC)", app=domain.app, domain=domain.hostname, error=message)
