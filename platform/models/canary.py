from django.db import models


class Canary(models.Model):
    """A release taking a share of an app's web traffic beside the live one, until promoted or aborted."""

    app = models.OneToOneField("platform.App", on_delete=models.CASCADE, related_name="canary")
    release = models.ForeignKey("platform.Release", on_delete=models.CASCADE, related_name="+")
    percent = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.app} canary v{self.release.version} at {self.percent}%"
