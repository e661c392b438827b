from django.conf import settings
from django.db import models


class Event(models.Model):
    """The audit log: who changed what, when. Written in the same transaction as the change.

    An event belongs to the app object, not to its name: names are reused once an
    app is destroyed, so an app's events are those whose ``app`` is that app. When
    the app goes, ``app`` becomes NULL and ``app_name`` with ``app_pk`` (ids are
    never reused) still say which app it was, for admins.
    """

    app = models.ForeignKey("platform.App", null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    app_name = models.CharField(max_length=30, blank=True, help_text="Kept after the app is destroyed")
    app_pk = models.BigIntegerField(null=True, blank=True,
                                    help_text="The app's id, kept after it is destroyed: tells apps of one name apart")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=50)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    # Keys of ``data`` shown only to the app's members and the event's actor (see api/serializers.py).
    MEMBERS_ONLY = ("command",)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["app_name", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'platform'} {self.action}: {self.message}"

    def public_data(self) -> dict:
        """``data`` without what only the app's members may see (a run's command may hold a secret)."""
        return {key: value for key, value in self.data.items() if key not in self.MEMBERS_ONLY}
