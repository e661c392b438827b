from django.db import models


class Instance(models.Model):
    """One running copy of a process type of a release (``web.1``), placed on a host.

    The scheduler writes the placement and the desired state; the host's agent
    writes what actually happens (state, address, exit code, resource use).
    """

    PENDING = "pending"  # desired, not yet placed on a host
    UNPLACED = "unplaced"  # no host can take it; see unplaced_reason
    STARTING = "starting"
    UP = "up"
    CRASHED = "crashed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    OOM_KILLED = "oom-killed"
    STATES = [(s, s) for s in (PENDING, UNPLACED, STARTING, UP, CRASHED, STOPPING, STOPPED, OOM_KILLED)]

    RUNNING = "running"
    STOP = "stopped"
    DESIRED = [(RUNNING, RUNNING), (STOP, STOP)]

    SERVICE = "service"  # part of the formation: kept running, restarted on a crash
    ONEOFF = "oneoff"  # paas run: runs once, its exit code is the answer
    KINDS = [(SERVICE, SERVICE), (ONEOFF, ONEOFF)]

    name = models.CharField(max_length=100, unique=True, help_text="Container name, also its hostname")
    app = models.ForeignKey("platform.App", on_delete=models.CASCADE, related_name="instances")
    release = models.ForeignKey("platform.Release", on_delete=models.PROTECT, related_name="instances")
    process_type = models.CharField(max_length=30)
    number = models.PositiveIntegerField(help_text="The N of web.N")
    generation = models.PositiveIntegerField(default=0, help_text="The formation generation it was started for")
    kind = models.CharField(max_length=10, choices=KINDS, default=SERVICE)
    attach = models.CharField(max_length=4, blank=True, help_text='One-offs: "tty" or "pipe" when attached')
    expires_at = models.DateTimeField(null=True, blank=True, help_text="One-offs are stopped at this time")
    command = models.TextField(blank=True)
    size = models.CharField(max_length=20)
    memory_mb = models.PositiveIntegerField()
    cpus = models.FloatField()
    host = models.ForeignKey("platform.Host", null=True, blank=True, on_delete=models.SET_NULL, related_name="instances")
    desired_state = models.CharField(max_length=10, choices=DESIRED, default=RUNNING)
    frozen = models.BooleanField(default=False, help_text="asleep: its agent freezes it (no CPU, memory kept)")
    state = models.CharField(max_length=12, choices=STATES, default=PENDING)
    unplaced_reason = models.TextField(blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    restarts_reported = models.PositiveIntegerField(default=0, help_text="crashes already told as events")
    memory_bytes = models.BigIntegerField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["app", "process_type", "number"]
        indexes = [models.Index(fields=["host", "desired_state"]), models.Index(fields=["app", "state"])]

    def __str__(self):
        return f"{self.app} {self.process_type}.{self.number}"

    @property
    def label(self) -> str:
        return f"{self.process_type}.{self.number}"
