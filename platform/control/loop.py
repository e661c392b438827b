"""``paas-control``: the level-triggered control loop of Platform Control.

Each full tick: notice down hosts → reconcile every app (rollouts, formation) →
place pending instances → publish the router's table. A wake naming an app (a scale,
a one-off, a request to an app asleep) first gets a fast pass for that app alone
(``fast_pass``): reconcile it, place its instances, wake the agents. A full tick runs at once
when something publishes on ``<prefix>control:wake`` (every action that changes
desired state does, on commit: a release, a scale, a domain; agents do when an
instance comes up, crashes or stops; the router when an app asleep gets a request), or
PAAS_CONTROL_INTERVAL_S after it when the wake got a fast pass (``FullTickTimer``), every
PAAS_CONTROL_INTERVAL_S (1 s) while work is in flight (a rollout, instances being
placed, started or stopped), and at least once a minute whatever the messages say.
Between them, every PAAS_CONTROL_IDLE_INTERVAL_S (10 s), a light tick does what
time alone changes (a silent host, autoscaling, expired one-offs), so an idle
platform costs next to no CPU. Several loops may run: each app row is locked for
its reconcile, so they share the work without doubling it.
"""

import argparse
import logging
import os
import signal
import threading
import time

log = logging.getLogger("paas.control")

# Placement reads every host's free capacity, then assigns: the fast pass (listener thread) and the
# tick (main thread) must not do that at once, or both could fill the same free memory.
PLACING = threading.Lock()
# Two publishes at once could write an older table after a newer one.
PUBLISHING = threading.Lock()


class FullTickTimer:
    """When the main loop's full tick is due after wake messages: plain code, times passed in.

    A plain wake asks for a full tick now. A wake that got a fast pass (a scale, a run, an
    instance up) has had what the user waits for; its full tick comes ``delay`` later, so it does
    not reconcile every app on the same two cores as the container start the fast pass set off.
    """

    def __init__(self, delay: float):
        self.delay = delay
        self.due_at: float | None = None

    def woken(self, fast_passed: bool, now: float) -> None:
        due = now + self.delay if fast_passed else now
        self.due_at = due if self.due_at is None else min(self.due_at, due)

    def due(self, now: float) -> bool:
        """True once (then forgotten) when the full tick should start."""
        if self.due_at is None or now < self.due_at:
            return False
        self.due_at = None
        return True

    def wait_s(self, now: float, longest: float) -> float:
        """How long the listener may block on its channel before it must look at the timer."""
        return longest if self.due_at is None else max(0.0, min(longest, self.due_at - now))


def fast_pass(app_ids: set[int], publisher=None, routes_first: bool = False) -> int:
    """Place pending instances, reconcile just these apps and place theirs now; return how many were placed.

    What a user waits on (a scale-out, `paas run`, a wake from zero) should not wait for a full
    tick over every app. The full tick that follows still converges everything, so this pass may
    skip an app another loop holds or fail without harm. In order: what is pending already (a
    one-off the API created) goes to its agent before any reconcile; with ``routes_first`` (an
    instance of the app came up or went down) the routers learn it before the reconcile too.
    """
    from paas.platform.control.deploys import reconcile_app

    if publisher is not None and (publisher.stale or routes_first):
        publish(publisher, app_ids)
    placed = place_and_wake()
    now = time.time()
    changed = False
    for app_id in sorted(app_ids):
        changed |= reconcile_app(app_id, now)
    if changed:
        placed += place_and_wake()
    if publisher is not None and (changed or not routes_first):
        publish(publisher, app_ids)
    return placed


def publish(publisher, app_ids: set[int]) -> None:
    """The apps' route entries (a fast pass changes no other), or the whole table while it may lag."""
    with PUBLISHING:
        if publisher.stale:  # as in tick(): no reconcile may stop instances routers may still use
            publisher.publish()
        else:
            publisher.publish_apps(app_ids)


def place_and_wake() -> int:
    """Give pending instances a host and wake the agents if any was placed; how many were."""
    from paas.platform.control.scheduling import place_pending
    from paas.platform.control.wake import wake_agents

    with PLACING:
        placed = place_pending()
    if placed > 0:
        wake_agents()
    return placed


def tick(publisher, full: bool = True) -> bool:
    """One pass; True while work is in flight (the next tick should come soon).

    A full pass reconciles every app and publishes the router's table. A light one (an idle
    timer tick) only does what time alone changes: a host falling silent, autoscaling, one-offs
    past their limit, crash reports, retention; what it changes makes the next pass full.
    """
    from paas.platform.actions.certs import warn_expiring
    from paas.platform.control.acme import schedule_due as order_certificates
    from paas.platform.actions.runs import expire_runs
    from paas.platform.builds.recovery import recover_orphaned_builds
    from paas.platform.control.autoscaling import run_autoscalers
    from paas.platform.control.crashes import report_crashes
    from paas.platform.control.imagegc import schedule as collect_images
    from paas.platform.control.deploys import reconcile_app
    from paas.platform.control.retention import prune_stopped
    from paas.platform.control.scheduling import forget_stopped, mark_down_hosts, place_pending
    from paas.platform.control.wake import wake_agents
    from paas.platform.control.sleep import freeze_published
    from paas.platform.models import App
    from paas.services.settle import settle as settle_addons

    if full and publisher.stale:
        # A rollout stops the old release's instances on the tick after the one that published
        # the table without them. If that publish failed (Redis away) or this loop started after
        # one was killed between the two, routers may still send requests to those instances:
        # the table is brought up to date first, and if Redis is still away the tick stops here.
        with PUBLISHING:
            publisher.publish()
    now = time.time()
    changed = bool(mark_down_hosts())
    changed |= bool(run_autoscalers(now))
    if full:
        for app_id in App.objects.values_list("pk", flat=True):
            changed |= reconcile_app(app_id, now)
        with PLACING:
            placed = place_pending()
        if placed > 0:
            # An instance just placed is what a user waits on (a scale-out, a wake, `paas run`): its
            # agent starts it now, while this tick publishes the table and does its housekeeping.
            wake_agents()
            changed = True
    forget_stopped()
    changed |= expire_runs() > 0
    changed |= settle_addons() > 0
    recover_orphaned_builds()
    report_crashes()
    prune_stopped()
    collect_images()
    warn_expiring()
    order_certificates()
    if full:
        with PUBLISHING:
            publisher.publish()
        # Only now that routers know which apps are asleep may their agents freeze them (control/sleep.py).
        changed |= freeze_published() > 0
    if changed:
        wake_agents()  # again: what the rest of the tick changed (stops, expired runs, freezes)
    return changed or in_flight()


def in_flight() -> bool:
    """A rollout, an instance on its way up or down, or a build: what the 1 s interval is for."""
    from paas.platform.models import Build, Instance, Release

    # Unplaced and crashed instances wait for something else (a host, the agent's backoff), which wakes us.
    moving = Instance.objects.filter(desired_state=Instance.RUNNING, state__in=[Instance.PENDING, Instance.STARTING])
    leaving = Instance.objects.filter(desired_state=Instance.STOP).exclude(
        state__in=[Instance.STOPPED, Instance.CRASHED, Instance.OOM_KILLED])
    deploying = Release.objects.filter(status__in=[Release.PENDING, Release.DEPLOYING], build__isnull=False)
    # A build's worker may die: noticed (builds/recovery.py) within a tick, not an idle interval.
    building = Build.objects.filter(status=Build.BUILDING)
    return moving.exists() or leaving.exists() or deploying.exists() or building.exists()


class Loop:
    def __init__(self, interval: float, idle_interval: float | None = None, full_interval: float = 60.0):
        from paas.platform.control.routes import RoutePublisher
        from paas.platform.redis_client import get_redis

        self.interval = interval
        self.idle_interval = max(interval, idle_interval if idle_interval is not None else interval)
        # Every change is announced on the wake channel, but a lost message must cost a delay, not
        # a wrong state: a full pass runs at least this often whatever the messages say.
        self.full_interval = full_interval
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.publisher = RoutePublisher()
        self.redis = get_redis()

    def listen(self) -> None:
        """Turn wake-up messages into an early tick; if Redis goes away, ticks still come on time.

        The router asks on its wake channel for apps scaled to zero that got a request.
        """
        from django.conf import settings
        from django.db import close_old_connections

        from paas.contracts import redis_keys
        from paas.platform.control.autoscaling import wake_app
        from paas.platform.control.wake import wake_channel

        router_wake = redis_keys.router_wake(settings.PAAS_REDIS_PREFIX)
        timer = FullTickTimer(self.interval)
        while not self.stopping.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(wake_channel(), router_wake)
                # Wakes published while nobody listened are lost (a Redis restart; Redis may also have
                # come back empty, without the router's table): a full pass now, not at full_interval.
                self.wake.set()
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=timer.wait_s(time.monotonic(), 1.0))
                    if message:
                        close_old_connections()  # this thread's own connection: it may have gone stale
                        timer.woken(self.hurry(message, router_wake, wake_app), time.monotonic())
                    if timer.due(time.monotonic()):
                        self.wake.set()  # the full tick converges everything else
            except Exception as error:  # a broken connection: reconnect after a pause
                log.warning("wake channel: %s", error)
                self.stopping.wait(1.0)

    def hurry(self, message, router_wake: str, wake_app) -> bool:
        """A wake naming an app (a scale, a run, a request to an app asleep): its fast pass, here and now;
        True when one ran.

        Here in the listener, not in the main loop: that may be in the middle of a full tick.
        """
        from paas.platform.control.wake import names_a_state_change, woken_app
        from paas.platform.models import App

        try:
            if message["channel"].decode() == router_wake:
                name = message["data"].decode("utf-8", "replace")
                app_id = App.objects.filter(name=name).values_list("pk", flat=True).first() \
                    if wake_app(name) else None
            else:
                app_id = woken_app(message["data"])
            if app_id is not None:
                fast_pass({app_id}, self.publisher, routes_first=names_a_state_change(message["data"]))
                return True
        except Exception:  # the full tick that follows converges anyway
            log.exception("fast pass failed")
        return False

    def run(self) -> None:
        from django.db import close_old_connections

        threading.Thread(target=self.listen, daemon=True).start()
        busy, woken, last_full = True, True, 0.0
        while not self.stopping.is_set():
            self.wake.clear()
            full = busy or woken or time.monotonic() - last_full >= self.full_interval
            try:
                close_old_connections()
                if full:
                    last_full = time.monotonic()
                busy = tick(self.publisher, full)
            except Exception:  # one failed tick must not end the loop; the next retries
                log.exception("control tick failed")
                busy = True
            woken = self.wake.wait(self.interval if busy else self.idle_interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paas-control", description="Run the paas control loop.")
    parser.add_argument("--interval", type=float, default=float(os.environ.get("PAAS_CONTROL_INTERVAL_S", "1.0")))
    parser.add_argument("--idle-interval", type=float,
                        default=float(os.environ.get("PAAS_CONTROL_IDLE_INTERVAL_S", "10")))
    parser.add_argument("--once", action="store_true", help="one tick, then exit")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
    import django

    django.setup()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    loop = Loop(args.interval, args.idle_interval)
    if args.once:
        tick(loop.publisher)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (loop.stopping.set(), loop.wake.set()))
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
