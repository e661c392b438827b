import secrets

from django.db import models
from django.db.models import Q

from paas.platform.names import VERIFY_LABEL


def new_token() -> str:
    """What the TXT record at _paas-verify.<domain> must hold: random, one per claim."""
    return "paas-verify=" + secrets.token_hex(16)


class Domain(models.Model):
    """A custom hostname claimed by an app; routed beside <app>.<base-domain> once verified.

    Several apps may claim one hostname while it is pending (see actions/domains.py for why);
    a database constraint lets only one of them hold it verified.
    """

    PENDING, VERIFIED = "pending", "verified"
    BY_DNS, BY_ADMIN = "dns", "admin"

    hostname = models.CharField(max_length=253)
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="domains")
    token = models.CharField(max_length=64, default=new_token)
    verified_at = models.DateTimeField(null=True, blank=True)
    # "dns": the TXT record held the token; "admin": an admin routed it without the check.
    verified_by = models.CharField(max_length=8, blank=True, choices=[(BY_DNS, "DNS record"), (BY_ADMIN, "admin")])
    created_at = models.DateTimeField(auto_now_add=True)
    # Automatic certificates (control/acme.py): the last order's outcome and when to try again.
    acme_status = models.CharField(max_length=8, blank=True, help_text="'', ordering, issued or failed")
    acme_error = models.TextField(blank=True, help_text="The ACME server's error of the last failed order")
    acme_failures = models.PositiveIntegerField(default=0)
    acme_next_try = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]
        constraints = [
            models.UniqueConstraint(fields=["app", "hostname"], name="domain_claimed_once_per_app"),
            models.UniqueConstraint(fields=["hostname"], condition=Q(verified_at__isnull=False),
                                    name="domain_verified_by_one_app"),
        ]

    def __str__(self):
        return self.hostname

    @property
    def state(self) -> str:
        return self.VERIFIED if self.verified_at else self.PENDING

    @property
    def record_name(self) -> str:
        """The DNS name whose TXT record proves the claim."""
        return f"{VERIFY_LABEL}.{self.hostname}"
