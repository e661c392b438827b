from django.db import models


class Addon(models.Model):
    """One add-on server (a PostgreSQL or a Redis of services/), owned by an app, placed on a host.

    The platform writes the desired state and the placement; the host's agent
    writes what happens to the server's container (server_state, address).
    The volume holding its data lives on `host` and goes only with the add-on.
    """

    PROVISIONING = "provisioning"
    AVAILABLE = "available"
    FAILED = "failed"
    DEPROVISIONING = "deprovisioning"
    DOWN = "down"  # its host was lost: never re-created empty elsewhere
    STATES = [(s, s) for s in (PROVISIONING, AVAILABLE, FAILED, DEPROVISIONING, DOWN)]

    name = models.CharField(max_length=63, unique=True, help_text="Also its container and volume name")
    service = models.CharField(max_length=20)
    plan = models.CharField(max_length=20)
    stack = models.CharField(max_length=40, default="host",
                             help_text="Whose suite's server it runs: its app's stack when made (services/serverpackages.py)")
    # Kept (null) when the app is destroyed: the row tells the agent to stop the server and remove its volume.
    app = models.ForeignKey("platform.App", null=True, on_delete=models.SET_NULL, related_name="owned_addons")
    host = models.ForeignKey("platform.Host", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="addons")
    state = models.CharField(max_length=16, choices=STATES, default=PROVISIONING)
    state_message = models.TextField(blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True, help_text="What attached apps connect to")
    tls_host_port = models.PositiveIntegerField(null=True, blank=True,
                                                help_text="Its TLS port on the host, for a service with one apart")
    credentials = models.JSONField(default=dict, help_text="The provider's secrets: passwords, database")
    backup_at = models.CharField(max_length=5, blank=True, help_text="Daily backups at HH:MM UTC, or none")
    backup_last_day = models.DateField(null=True, blank=True, help_text="The day of the last scheduled backup")
    server_state = models.CharField(max_length=12, default="pending", help_text="As the agent reports it")
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The server's own address")
    exit_code = models.IntegerField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return self.name


class AddonAttachment(models.Model):
    """An app's use of an add-on: its config var `<name>_URL` (DATABASE_URL, REDIS_URL, ...)."""

    addon = models.ForeignKey(Addon, on_delete=models.CASCADE, related_name="attachments")
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="addon_attachments")
    name = models.CharField(max_length=50, help_text="The prefix of its config vars: DATABASE, REDIS, ...")
    bound = models.BooleanField(default=False, help_text="Its URL is in the app's config")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="addon_attachment_app_name"),
                       models.UniqueConstraint(fields=["app", "addon"], name="addon_attachment_app_addon")]


class AddonBackup(models.Model):
    """A pg_dump of a PostgreSQL add-on (kind capture), or a restore of one into an add-on (kind restore).

    A capture counts as done only once verified: restored into a scratch server
    whose table and row counts match those of the dump's own snapshot.
    """

    CAPTURE, RESTORE = "capture", "restore"
    PENDING, RUNNING, VERIFIED, SUCCEEDED, FAILED = "pending", "running", "verified", "succeeded", "failed"

    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="backups")
    addon = models.ForeignKey(Addon, null=True, on_delete=models.SET_NULL, related_name="backups")
    addon_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=8, default=CAPTURE)
    number = models.PositiveIntegerField()
    source = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                               help_text="Restores: the backup restored")
    scheduled = models.BooleanField(default=False)
    state = models.CharField(max_length=10, default=PENDING)
    message = models.TextField(blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    counts = models.JSONField(default=dict, help_text="table -> rows, in the dump's snapshot")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["app", "kind", "number"], name="addon_backup_number")]

    @property
    def label(self) -> str:
        return f"{'b' if self.kind == self.CAPTURE else 'r'}{self.number:03d}"
