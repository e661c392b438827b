"""pg:credentials:rotate: a new login and password, rolled out, and the old login revoked once live.

PostgreSQL keeps the app's objects with the role made at provisioning (the
owner). Each rotation makes a new login role that is a member of the owner
and becomes it at every login (``ALTER ROLE ... SET role``), so what it
creates is the owner's too; binding hands its URL to every attached app (a
release each). The old login keeps working until every one of those apps
serves a release with the new URL (the control loop's ``retire_rotated``):
then its sessions end and it can no longer log in.
"""

import secrets

from django.db import transaction

from paas.platform.actions import access
from paas.platform.actions.events import record
from paas.platform.control.deploys import serving_release
from paas.platform.exceptions import Conflict
from paas.platform.models import Addon
from paas.services.broker import bind, config_vars
from paas.services.probe import server_url
from paas.services.stats import ServerUnavailable


def _execute(addon: Addon, statements) -> None:
    import psycopg2

    try:
        with psycopg2.connect(server_url(addon), connect_timeout=3) as connection:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
    except psycopg2.Error as error:
        raise ServerUnavailable(f"{addon.name}: {str(error).strip()[:200]}") from None


def rotate(user, app, name: str | None = None) -> Addon:
    """Make the new login, then hand its URL to every attached app; the old one is revoked later."""
    from psycopg2 import sql

    from paas.services.backups import database_of

    access.require_manage(user, app)
    addon = database_of(app, name)
    credentials = dict(addon.credentials)
    if credentials.get("retiring"):
        raise Conflict(f"the last rotation of {addon.name} is still rolling out: try again once it is live")
    login, password = "u" + secrets.token_hex(6), secrets.token_hex(24)
    owner = credentials.get("owner", credentials["user"])
    _execute(addon, [sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
        sql.Identifier(login), sql.Literal(password), sql.Identifier(owner)),
        sql.SQL("ALTER ROLE {} SET role = {}").format(sql.Identifier(login), sql.Identifier(owner))])
    credentials.setdefault("owner_password", credentials["password"])  # the server's settings stay as they were
    credentials.update(owner=owner, user=login, password=password, retiring=credentials["user"])
    with transaction.atomic():
        Addon.objects.filter(pk=addon.pk).update(credentials=credentials)
        addon.credentials = credentials
        for attachment in addon.attachments.select_related("app", "addon").filter(bound=True):
            attachment.addon = addon
            bind(attachment, user)
        record(user, "addon.rotate", f"rotated the credentials of {addon.name}; the old ones are revoked "
               "once the new ones are live", app=app)
    return addon


def rolled_out(addon: Addon) -> bool:
    """Every attached app serves a release with the add-on's current URLs (or runs nothing at all)."""
    for attachment in addon.attachments.select_related("app"):
        attachment.addon = addon
        serving = serving_release(attachment.app)
        if serving is not None and any(serving.config.values.get(var) != value
                                       for var, value in config_vars(attachment).items()):
            return False
    return True


def retire_rotated() -> int:
    """The control loop's part: revoke each rotated-out login whose replacement is live."""
    from psycopg2 import sql

    done = 0
    for addon in Addon.objects.filter(state=Addon.AVAILABLE, service="postgres", credentials__has_key="retiring"):
        if not rolled_out(addon):
            continue
        old = addon.credentials["retiring"]
        _execute(addon, [sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(old)),
                         sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}").format(
                             sql.Literal(old))])
        credentials = {k: v for k, v in addon.credentials.items() if k != "retiring"}
        Addon.objects.filter(pk=addon.pk).update(credentials=credentials)
        record(None, "addon.rotated", f"the old credentials of {addon.name} are revoked", app=addon.app)
        done += 1
    return done
