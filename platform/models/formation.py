from django.db import models

from paas.platform.sizes import DEFAULT_SIZE, SIZES


class Formation(models.Model):
    """Desired state for one process type of an app: how many instances of what size."""

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="formation")
    process_type = models.CharField(max_length=30)
    quantity = models.PositiveIntegerField(default=0)
    size = models.CharField(max_length=20, choices=[(s, s) for s in SIZES], default=DEFAULT_SIZE)
    stopped = models.BooleanField(default=False, help_text="ps:stop: no instances run, the quantity is kept")
    generation = models.PositiveIntegerField(default=0, help_text="ps:restart bumps it; older instances are replaced")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["process_type"]
        constraints = [models.UniqueConstraint(fields=["app", "process_type"], name="unique_formation_type")]

    def __str__(self):
        return f"{self.app} {self.process_type}={self.quantity}:{self.size}"
