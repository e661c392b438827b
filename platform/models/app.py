from django.conf import settings
from django.db import models


class App(models.Model):
    """An application: a name, an owner, and the history of what it runs."""

    name = models.CharField(max_length=30, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_apps")
    team = models.ForeignKey("platform.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="apps")
    stack = models.CharField(max_length=40)
    maintenance = models.BooleanField(default=False)
    health_check_path = models.CharField(max_length=200, blank=True,
                                         help_text="An HTTP path that must answer 2xx/3xx before web instances get traffic")
    egress = models.BooleanField(default=True,
                                 help_text="Instances may open connections out (paas egress:allow / egress:deny)")
    https_redirect = models.BooleanField(default=False,
                                         help_text="Plain-HTTP requests are redirected to HTTPS (paas https:redirect)")
    hsts_max_age = models.PositiveIntegerField(null=True, blank=True,
                                               help_text="Strict-Transport-Security max-age over HTTPS; null: none")
    acme = models.BooleanField(default=False,
                               help_text="Verified custom domains get certificates from ACME (paas certs:auto:enable)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def web_url(self) -> str:
        port = settings.PAAS_ROUTER_PORT
        suffix = "" if port == 80 else f":{port}"
        return f"http://{self.name}.{settings.PAAS_BASE_DOMAIN}{suffix}/"

    @property
    def git_url(self) -> str:
        return self.git_url_at(settings.PAAS_GIT_URL)

    def git_url_at(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.name}.git"

    def latest_release(self):
        return self.releases.order_by("-version").first()


class Collaborator(models.Model):
    """A user other than the owner who may deploy and configure an app."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="collaborators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collaborations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "user"], name="unique_collaborator")]

    def __str__(self):
        return f"{self.user} on {self.app}"
