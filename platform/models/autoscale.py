from django.db import models


class Autoscale(models.Model):
    """Elastic scaling of one process type, driven by the router's request metrics."""

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="autoscalers")
    process_type = models.CharField(max_length=30)
    min_quantity = models.PositiveIntegerField(default=1, help_text="0 lets an idle app scale to zero")
    max_quantity = models.PositiveIntegerField()
    target_rps = models.FloatField(null=True, blank=True, help_text="requests per second per instance")
    target_p95_ms = models.PositiveIntegerField(null=True, blank=True)
    last_scaled_at = models.DateTimeField(null=True, blank=True)
    asleep = models.BooleanField(default=False, help_text="web, idle: its instances are frozen until a request")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["app", "process_type"]
        constraints = [models.UniqueConstraint(fields=["app", "process_type"], name="unique_autoscale_type")]

    def __str__(self):
        return f"{self.app} {self.process_type} {self.min_quantity}..{self.max_quantity}"
