from django.db import models


class Host(models.Model):
    """A machine running the paas agent, with the capacity it offers for instances."""

    UP = "up"
    DOWN = "down"
    DRAINING = "draining"
    STATES = [(s, s) for s in (UP, DOWN, DRAINING)]

    name = models.CharField(max_length=100, unique=True)
    address = models.GenericIPAddressField(help_text="Where the router and other hosts reach this host's instances")
    memory_mb = models.PositiveIntegerField(help_text="Memory offered to instances")
    cpus = models.FloatField(help_text="CPUs offered to instances")
    state = models.CharField(max_length=10, choices=STATES, default=UP)
    labels = models.JSONField(default=dict, blank=True)
    stacks = models.JSONField(default=list, blank=True,
                              help_text="The stacks built on this host, as its agent last reported them")
    agent_version = models.CharField(max_length=40, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
