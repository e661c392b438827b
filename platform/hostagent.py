"""The host agent's control plane: the Django models (Host, Instance) behind the runtime's ControlPlane.

The agent (paas.runtime.agent) keeps a host's instances running and knows only
the ControlPlane protocol; this module is the one implementation of it, and
``paas-agent`` (``main``) hands it to the agent. The runtime never imports
Django or the models: the platform depends on the runtime, not the reverse.
"""

import os
import sys

from paas.contracts import redis_keys
from paas.logcenter.schema import release_label
from paas.runtime import agent, config
from paas.runtime.agent import HostInfo
from paas.runtime.reconcile import Desired
from paas.services import agentview


# States no control pass acts on: "starting" changes no route and no rollout step, and waking the
# loop for it made a fast pass and a full tick compete with the start the user waits for.
QUIET_STATES = frozenset({"starting"})


class DjangoControlPlane:
    """The control plane through the Django ORM (Host and Instance in paas.platform.models)."""

    def __init__(self):
        import redis

        self.redis = redis.Redis.from_url(config.redis_url())
        self.last_state: dict[str, str] = {}
        self.host_name = config.host_name()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
        import django
        django.setup()
        from paas.platform.models import Host, Instance
        self.Host, self.Instance = Host, Instance

    @staticmethod
    def _usable_connection() -> None:
        """Outside a request nothing renews Django's connection: after PostgreSQL restarted, this
        thread's connection would stay closed forever (every heartbeat failing until the host is
        declared down and its instances moved). As at a request's start: drop a connection that
        errored and is unusable, and health-check a kept one before its next query."""
        from django.db import close_old_connections, connection

        # Inside a transaction (a caller's atomic block, a test's) the connection is not ours to drop.
        if not connection.in_atomic_block:
            close_old_connections()

    def register(self, host: HostInfo) -> None:
        import threading

        from django.utils import timezone

        from django.conf import settings

        from paas.services import serverpackages, templates
        # In the background: an optimisation of add-on provisioning, never a wait for the agent's start.
        threading.Thread(target=templates.ensure_postgres, daemon=True).start()
        serverpackages.prepare(settings.PAAS_DEFAULT_STACK)
        self._usable_connection()
        self.host_name = host.name
        self.Host.objects.update_or_create(name=host.name, defaults={
            "address": host.address, "memory_mb": host.memory_mb, "cpus": host.cpus, "stacks": list(host.stacks),
            "last_heartbeat": timezone.now(), "agent_version": "1"})
        # Up again, unless an admin cordoned it (actions/hosts.py): a restarted agent keeps the cordon.
        self.Host.objects.filter(name=host.name).exclude(state=self.Host.DRAINING).update(state=self.Host.UP)

    def heartbeat(self, host: HostInfo) -> None:
        from django.utils import timezone
        self._usable_connection()
        updated = self.Host.objects.filter(name=host.name).update(last_heartbeat=timezone.now(),
                                                                  stacks=list(host.stacks))
        if not updated:
            self.register(host)  # the row was removed (by an admin, or an emptied database): come back

    def desired(self, host: HostInfo) -> list[Desired]:
        self._usable_connection()
        rows = (self.Instance.objects.filter(host__name=host.name, desired_state=self.Instance.RUNNING)
                .select_related("app", "release__build", "release__config"))
        out = []
        for row in rows:
            build = row.release.build
            if build is None or not build.slug_digest:
                continue
            once = row.kind == self.Instance.ONEOFF
            out.append(Desired(
                name=row.name, app=row.app.name, release=release_label(row.release.version), process=row.label,
                command=row.command or build.process_types.get(row.process_type, ""),
                image=build.slug_digest, stack=build.run_stack,
                env=tuple(sorted((row.release.config.values or {}).items())),
                memory_mb=row.memory_mb, cpus=row.cpus, restarts=row.restarts,
                last_exit_at=None if once else (row.stopped_at.timestamp() if row.stopped_at else None),
                once=once, attach=row.attach, health_path=row.app.health_check_path, app_id=row.app_id,
                egress=row.app.egress, frozen=row.frozen))
        return out + agentview.desired(host.name)

    def remote_addons(self, host: HostInfo) -> list[dict]:
        self._usable_connection()
        return agentview.remote(host.name)

    def doomed_volumes(self, host: HostInfo) -> list[str]:
        self._usable_connection()
        return agentview.doomed_volumes(host.name)

    def volume_removed(self, name: str) -> None:
        agentview.volume_removed(name)

    def report(self, name: str, **fields) -> None:
        from datetime import datetime
        from datetime import timezone as tz

        from django.db.models import F
        if fields.pop("restarts_increment", False):
            fields["restarts"] = F("restarts") + 1
        for key in ("started_at", "stopped_at"):
            if isinstance(fields.get(key), float):
                fields[key] = datetime.fromtimestamp(fields[key], tz.utc)
        # update() skips auto_now, and the scheduler reads updated_at.
        fields["updated_at"] = datetime.now(tz.utc)
        # Only rows still assigned here: an instance moved away while this host was
        # down must not be overwritten by this host stopping its stale copy.
        addon = agentview.report(name, self.host_name, fields)  # add-on servers have rows of their own
        if not addon:
            self.Instance.objects.filter(name=name, host__name=self.host_name).update(**fields)
        state = fields.get("state")
        if state is not None and self.last_state.get(name) != state:
            self.last_state[name] = state
            if state in QUIET_STATES:
                return
            app_id = None if addon else self.Instance.objects.filter(name=name).values_list("app_id", flat=True).first()
            self.wake_control(app_id)

    def wake_control(self, app_id: int | None = None) -> None:
        """A state change (up, crashed, stopped) is what a rollout waits for: tick now, not at the interval.

        Naming the app lets the loop publish its route at once (loop.py ``fast_pass``): a new
        instance up is what a scale-out or a wake from zero waits for.
        """
        import redis

        from paas.platform.control.wake import wake_message

        try:
            self.redis.publish(redis_keys.control_wake(redis_keys.prefix()), wake_message(app_id, state_change=True))
        except redis.RedisError:
            pass  # the control loop's own interval still gets there

    def image_url(self, digest: str) -> str:
        # The agent's own setting (where this host reaches the API), not the API's public address.
        base = os.environ.get("PAAS_API_URL", "http://127.0.0.1:8000").rstrip("/")
        return f"{base}/api/images/{digest}"


def main(argv: list[str] | None = None) -> int:
    """`paas-agent`: this host's agent, with the Django control plane."""
    from paas.services import bgcontainers

    try:
        return agent.main(DjangoControlPlane, argv)
    finally:
        bgcontainers.release_unfinished()


if __name__ == "__main__":
    sys.exit(main())
