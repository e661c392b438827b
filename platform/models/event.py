from django.conf import settings
from django.db import models


class Event(models.Model):
    """The audit log: who changed what, when. Written in the same transaction as the change."""

    app = models.ForeignKey("platform.App", null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    app_name = models.CharField(max_length=30, blank=True, help_text="Kept after the app is destroyed")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=50)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["app_name", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'platform'} {self.action}: {self.message}"
