"""A log drain: every line of an app sent on to the user's own syslog server, HTTPS endpoint or Loki.

``paas-logs`` runs the drains; it learns of them through Redis (models/logcenter_publish.py).
"""

from django.db import models

from paas.logcenter import drains
from paas.platform.models.logcenter_publish import published_to_logcenter


class LogDrain(models.Model):
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="drains")
    url = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["app", "url"], name="drain_once_per_app")]

    def __str__(self):
        return f"drain {self.pk} of app {self.app_id}"


published_to_logcenter(LogDrain, lambda d: {"id": d.pk, "url": d.url}, drains.publish)
