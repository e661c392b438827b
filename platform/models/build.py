import uuid

from django.conf import settings
from django.db import models


class Build(models.Model):
    """One run of the buildpacks over a pushed commit; its slug is an input to releases."""

    PENDING = "pending"
    BUILDING = "building"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUSES = [(s, s) for s in (PENDING, BUILDING, SUCCEEDED, FAILED, CANCELLED)]
    FINISHED = (SUCCEEDED, FAILED, CANCELLED)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="builds")
    commit = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=12, choices=STATUSES, default=PENDING)
    stack = models.CharField(max_length=40, blank=True)
    buildpack = models.CharField(max_length=100, blank=True)
    slug_digest = models.CharField(max_length=80, blank=True)
    slug_size = models.BigIntegerField(null=True, blank=True)
    process_types = models.JSONField(default=dict, blank=True)
    default_env = models.JSONField(default=dict, blank=True, help_text="config_vars from bin/release; app config wins")
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The console dashboard's recent failed builds, without reading every build (and its output).
        indexes = [models.Index(fields=["status", "created_at"], name="build_status_created_at")]

    def __str__(self):
        return f"{self.app} build {str(self.uuid)[:8]} ({self.status})"

    @property
    def run_stack(self) -> str:
        """The stack its slug runs on: builds from before stacks were recorded ran on the host stack."""
        return self.stack or "host"

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
