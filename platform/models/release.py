from django.conf import settings
from django.db import models

from paas.platform.models.immutable import ImmutableModel


class Release(ImmutableModel):
    """Release vN of an app: a build plus a config snapshot. Never edited, only added.

    A rollback is a new release pointing at an older build and config.
    """

    PENDING = "pending"
    DEPLOYING = "deploying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STATUSES = [(s, s) for s in (PENDING, DEPLOYING, SUCCEEDED, FAILED)]

    mutable_fields = ("status", "status_message")

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="releases")
    version = models.PositiveIntegerField()
    build = models.ForeignKey("platform.Build", null=True, blank=True, on_delete=models.PROTECT, related_name="releases")
    config = models.ForeignKey("platform.Config", on_delete=models.PROTECT, related_name="releases")
    summary = models.CharField(max_length=300)
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=STATUSES, default=PENDING)
    status_message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["app", "version"], name="unique_release_version")]
        # The console dashboard's recent deploys: the newest ten of every app, read from the end of this
        # index instead of sorting every release.
        indexes = [models.Index(fields=["created_at"], name="release_created_at")]

    def __str__(self):
        return f"{self.app} v{self.version}"

    @property
    def process_types(self) -> dict:
        return dict(self.build.process_types) if self.build else {}
