"""A log alert: a saved search whose count over a window is checked every minute against a threshold,
with a webhook called when it is crossed and when it clears (logcenter/alerts.py)."""

from django.db import models, transaction
from django.db.models.signals import post_save, pre_delete

from paas.logcenter import alerts
from paas.services import backup_alert
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


def platform_rules(app_name: str, webhooks: list[str]) -> list[dict]:
    """The platform's own alert on backups (services/backup_alert.py) for an app with a PostgreSQL add-on,
    delivered to the webhooks the app's own alerts name."""
    from paas.platform.models.app import App

    app_pk = (App.objects.filter(name=app_name, addon_attachments__addon__service="postgres")
              .values_list("pk", flat=True).first())
    return backup_alert.rules(app_pk, webhooks)


def _platform_rules(app_name: str, rows: list[dict]) -> list[dict]:
    return platform_rules(app_name, [row["webhook"] for row in rows])


published_to_logcenter(LogAlert, LogAlert.rule, alerts.publish, extra=_platform_rules)


def _attachments_changed(sender, instance, **kwargs):
    # An add-on attached or detached may give or take the platform's alert on backups: publish again.
    from paas.platform.models.app import App

    name = App.objects.filter(pk=instance.app_id).values_list("name", flat=True).first()
    if name:
        transaction.on_commit(lambda: LogAlert.publish_app(name))


post_save.connect(_attachments_changed, sender="platform.AddonAttachment", weak=False)
pre_delete.connect(_attachments_changed, sender="platform.AddonAttachment", weak=False)
