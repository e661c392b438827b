from paas.platform.models import Event


def record(actor, action: str, message: str, app=None, **data) -> Event:
    """Append one audit entry; call inside the transaction of the change it describes."""
    return Event.objects.create(
        app=app,
        app_name=app.name if app else "",
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        message=message,
        data=data,
    )
