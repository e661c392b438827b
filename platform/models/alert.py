"""A log alert: a saved search whose count over a window is checked every minute against a threshold,
with a webhook called when it is crossed and when it clears (logcenter/alerts.py)."""

from django.db import models

from paas.logcenter import alerts
from paas.platform.models.logcenter_publish import published_to_logcenter


class LogAlert(models.Model):
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="log_alerts")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=1000)
    above = models.BigIntegerField()
    per_s = models.IntegerField()
    webhook = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="log_alert_name_once_per_app")]

    def __str__(self):
        return f"alert {self.name} of app {self.app_id}"

    def rule(self) -> dict:
        """What paas-logs checks (logcenter/alerts.py Rule)."""
        return {"id": self.pk, "name": self.name, "query": self.query, "above": self.above, "per_s": self.per_s,
                "webhook": self.webhook}


published_to_logcenter(LogAlert, LogAlert.rule, alerts.publish)
