from django.db import models


class Certificate(models.Model):
    """A certificate a user uploaded for an app's custom domains (pki/uploaded.py checked it).

    The router serves it, by SNI, for each verified domain of the app its names cover
    (control/certs.py publishes them). The key is stored as the router needs it, unencrypted:
    the database and the Redis key it is published to are the platform's alone.
    """

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="certificates")
    name = models.CharField(max_length=16, help_text="The first 16 hex digits of the leaf's SHA-256")
    fingerprint = models.CharField(max_length=95)
    chain_pem = models.TextField()
    key_pem = models.TextField()
    names = models.JSONField(default=list, help_text="The leaf's DNS names")
    not_after = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    UPLOAD, ACME = "upload", "acme"
    source = models.CharField(max_length=8, default=UPLOAD, choices=[(UPLOAD, "uploaded"), (ACME, "ACME")])
    # ACME certificates only: ordered again from here on, two thirds into their lifetime.
    renew_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="certificate_once_per_app")]

    def __str__(self):
        return f"{self.app.name}/{self.name}"
