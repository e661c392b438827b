from django.conf import settings
from django.db import models

from paas.platform.models.immutable import ImmutableModel


class Config(ImmutableModel):
    """A snapshot of an app's config vars. Changing config makes a new snapshot."""

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="configs")
    values = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.app} config #{self.pk}"
