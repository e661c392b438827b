from django.conf import settings
from django.db import models


class RegistryLogin(models.Model):
    """An app's credentials for one image registry (``paas registry:login``), used when the platform
    pulls for the app: ``deploy:image`` and a Dockerfile's ``FROM``. The password or token is sealed
    (platform/sealing.py) and never shown back; builds never see it (the platform pulls, not the build)."""

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="registry_logins")
    registry = models.CharField(max_length=255, help_text="host[:port], as image references name it")
    username = models.CharField(max_length=255)
    sealed_secret = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["registry"]
        constraints = [models.UniqueConstraint(fields=["app", "registry"], name="one_login_per_app_registry")]

    def __str__(self):
        return f"{self.username}@{self.registry} for {self.app_id}"
