from django.db import models


class Domain(models.Model):
    """A custom hostname routed to an app, beside its default <app>.<base-domain>."""

    hostname = models.CharField(max_length=253, unique=True)
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="domains")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return self.hostname
