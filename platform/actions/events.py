from django.db import transaction
from django.db.models import Q, QuerySet

from paas.platform.models import Event


def record(actor, action: str, message: str, app=None, **data) -> Event:
    """Append one audit entry; call inside the transaction of the change it describes.

    Events about an app also appear in its logs as ``platform`` lines, once committed.
    """
    if app is not None:
        from paas.platform.logs import write_platform_line

        who = actor.get_username() if actor else "platform"
        transaction.on_commit(lambda: write_platform_line(app.name, f"{message} (by {who})"))
    return Event.objects.create(
        app=app,
        app_name=app.name if app else "",
        app_pk=app.pk if app else None,
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        message=message,
        data=data,
    )


def visible_events(user) -> QuerySet:
    """The audit log ``user`` may read: every event for admins; else its own actions and its apps' events."""
    from paas.platform.actions.access import member_apps

    events = Event.objects.all()
    if not user.is_staff:
        events = events.filter(Q(actor=user) | Q(app__in=member_apps(user).values("pk")))
    return events
