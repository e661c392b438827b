"""How long an app's log lines are kept, when the app set it (else ``PAAS_LOG_RETENTION_DAYS``).

``paas-logs`` applies it (logcenter/retention.py, store.py); it learns of it through Redis
(models/logcenter_publish.py), and a destroyed app's setting goes with it.
"""

from django.db import models

from paas.logcenter import retention
from paas.platform.models.logcenter_publish import published_to_logcenter


class LogRetention(models.Model):
    app = models.OneToOneField("platform.App", on_delete=models.CASCADE, related_name="log_retention")
    days = models.PositiveIntegerField(help_text="checked against PAAS_LOG_RETENTION_MAX_DAYS when set")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"log retention of app {self.app_id}: {self.days} days"


published_to_logcenter(LogRetention, lambda r: r.days, retention.publish)
