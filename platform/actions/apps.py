"""Creating and destroying apps."""

from django.conf import settings
from django.db import IntegrityError, transaction

from paas.contracts import redis_keys
from paas.platform.actions.access import require_manage
from paas.platform.actions.events import record
from paas.platform.actions.releases import create_release
from paas.platform.control.wake import wake
from paas.platform.exceptions import Conflict, Forbidden, Invalid, NotFound
from paas.platform.models import App, Config, Team, TeamMembership
from paas.platform.names import check_app_name, check_team_name

STACK_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def create_app(user, name: str, *, team: str | None = None, stack: str | None = None) -> App:
    """Create an app with an empty config and release v1, as Heroku does."""
    check_app_name(name)
    stack = check_stack(stack or default_stack())
    team_obj = get_team_for_app(user, team) if team else None
    try:
        with transaction.atomic():
            app = App.objects.create(name=name, owner=user, team=team_obj, stack=stack)
            # Log streams are keyed by name: lines an old app of this name's instances shipped
            # after its destroy must not show in the new app's logs. Registered before
            # record() so the new app's first platform line comes after it.
            transaction.on_commit(lambda: forget_app_keys(name))
            config = Config.objects.create(app=app, values={}, created_by=user)
            record(user, "app.create", f"created app {name}", app=app, stack=stack, team=team or "")
            create_release(app, user=user, build=None, config=config, summary="Initial release")
    except IntegrityError:
        raise Conflict(f"an app named {name!r} already exists") from None
    return app


def check_stack(stack: str) -> str:
    if not stack or not set(stack) <= STACK_NAME_CHARS or len(stack) > 40:
        raise Invalid(f"stack {stack!r} is not a valid stack name")
    return stack


def get_team_for_app(user, name: str) -> Team:
    check_team_name(name)
    try:
        team = Team.objects.get(name=name)
    except Team.DoesNotExist:
        raise NotFound(f"team {name!r} not found") from None
    if not user.is_staff and not TeamMembership.objects.filter(team=team, user=user).exists():
        raise Forbidden(f"you are not a member of team {name!r}")
    return team


def destroy_app(user, app: App, confirm: str | None) -> None:
    """Delete an app and its history; ``confirm`` must repeat the name (as Heroku asks)."""
    require_manage(user, app)
    if confirm != app.name:
        raise Invalid(f"destroying {app.name!r} is permanent: confirm by passing the app name ({app.name})")
    with transaction.atomic():
        record(user, "app.destroy", f"destroyed app {app.name}", app=app)
        from paas.services.broker import release_owned
        release_owned(user, app)  # its add-ons' servers stop and their volumes go, through their agents
        # Rows that protect others go first (instances hold releases; releases hold builds and
        # configs, and a rollback its original), so any history deletes in this one transaction.
        app.instances.all().delete()
        app.releases.update(rollback_of=None)
        app.releases.all().delete()
        app.builds.all().delete()
        app.configs.all().delete()
        app.delete()
        transaction.on_commit(lambda: remove_app_files(app.name))


def remove_app_files(name: str) -> None:
    """The app's repository and build cache go with it: a new app of that name starts empty."""
    import shutil

    from paas.platform.builds import cachedir
    from paas.platform.git.repos import repo_path

    shutil.rmtree(repo_path(name), ignore_errors=True)
    cachedir.remove(name)
    forget_app_keys(name)


def forget_app_keys(name: str) -> None:
    """Delete what Redis keeps under the app's name: its log stream (platform/logs.py,
    runtime/LOGS.md), its router metrics and its idle clock, so a new app of that name
    starts with none of them."""
    import redis

    from paas.platform.redis_client import get_redis

    prefix = settings.PAAS_REDIS_PREFIX
    try:
        get_redis().delete(redis_keys.log_stream(prefix, name), redis_keys.router_metrics(prefix, name),
                           redis_keys.autoscale_idle_since(prefix, name))
    except redis.RedisError:
        pass  # the stream is bounded; a leftover costs little


def set_maintenance(user, app: App, enabled: bool) -> App:
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        if app.maintenance != enabled:
            app.maintenance = enabled
            app.save(update_fields=["maintenance", "updated_at"])
            record(user, "app.maintenance", f"maintenance mode {'on' if enabled else 'off'}", app=app)
            transaction.on_commit(wake)
    return app


def set_health_check(user, app: App, path: str) -> App:
    """The path web instances must answer with 2xx/3xx before they get traffic ("" turns it off)."""
    if not isinstance(path, str) or len(path) > 200:
        raise Invalid("health check path must be text of at most 200 characters")
    if path and (not path.startswith("/") or not path.isascii() or not path.isprintable() or " " in path):
        raise Invalid(f"{path!r} is not a URL path (like /health)")
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        app.health_check_path = path
        app.save(update_fields=["health_check_path", "updated_at"])
        record(user, "app.healthcheck", f"health check {'set to ' + path if path else 'turned off'}", app=app)
    return app


def available_stacks() -> set[str]:
    """Stacks built on this control-plane host (the host stack is always there)."""
    from paas.runtime import stacks

    return stacks.available()


def default_stack() -> str:
    """New apps' stack: PAAS_DEFAULT_STACK (forky) once it is built here or being built (make up
    builds it in the background at first start); until then, and where it is never built
    (PAAS_BUILD_STACKS empty), the host stack. Existing apps keep theirs."""
    from paas.runtime import stacks

    wanted = settings.PAAS_DEFAULT_STACK
    if wanted in available_stacks() or stacks.being_built(wanted):
        return wanted
    return "host"


def describe_stacks() -> list[dict]:
    """Each stack with its language versions, the default marked (for `paas stacks`)."""
    from paas.runtime import stackinfo

    default = default_stack()
    return [{"name": name, "default": name == default, "languages": stackinfo.languages(name)}
            for name in sorted(available_stacks())]


def set_stack(user, app: App, stack: str) -> App:
    """The stack the next build uses (like heroku stack:set); the running release keeps its own."""
    check_stack(stack if isinstance(stack, str) else "")
    known = available_stacks()
    if stack not in known:
        raise Invalid(f"unknown stack {stack!r}; stacks here: {', '.join(sorted(known))}")
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        app.stack = stack
        app.save(update_fields=["stack", "updated_at"])
        record(user, "app.stack", f"stack set to {stack}: the next build uses it", app=app)
    return app
