"""PostgreSQL backups of an app's database: capture, list, info, download, restore, schedule."""

from paas.platform.actions import access
from paas.platform.api.images import StreamedFile
from paas.platform.api.routing import body_schema
from paas.platform.exceptions import NotFound
from paas.services import backups


def backup_json(backup) -> dict:
    return {"id": backup.label, "kind": backup.kind, "addon": backup.addon_name, "state": backup.state,
            "message": backup.message, "scheduled": backup.scheduled, "size_bytes": backup.size_bytes,
            "tables": len(backup.counts), "rows": sum(backup.counts.values()),
            "source": f"{backup.source.app.name} {backup.source.label}" if backup.source_id else None,
            "created_at": backup.created_at.isoformat(),
            "finished_at": backup.finished_at.isoformat() if backup.finished_at else None}


def list_backups(request, app):
    """The app's captures and restores, newest first."""
    target = access.get_app(request.user, app)
    return [backup_json(b) for b in target.backups.select_related("source__app")]


@body_schema({"addon": "string (optional): the add-on or its config var"})
def capture(request, app):
    """Capture a backup of the app's database; it is verified by a scratch restore before it counts."""
    target = access.get_app(request.user, app)
    return 202, backup_json(backups.capture(request.user, target, request.data.get("addon")))


def info(request, app, backup):
    """One backup or restore, with its table and row counts."""
    found = backups.get_backup(request.user, access.get_app(request.user, app), backup)
    return {**backup_json(found), "counts": found.counts}


def download(request, app, backup):
    """The backup itself: a pg_dump custom-format file (pg_restore reads it)."""
    target = access.get_app(request.user, app)
    access.require_manage(request.user, target)
    found = backups.get_backup(request.user, target, backup)
    path = backups.file_of(found)
    if found.kind != found.CAPTURE or found.state != found.VERIFIED or not path.is_file():
        raise NotFound(f"{found.label} has no file to download ({found.state})")
    response = StreamedFile(open(path, "rb"), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{target.name}-{found.label}.dump"'
    return response


@body_schema({"backup": "string (optional): b001; default the newest", "from": "string (optional): another app",
              "addon": "string (optional)"})
def restore(request, app):
    """Replace the app's database with a verified backup of this app or another one you may use."""
    target = access.get_app(request.user, app)
    row = backups.restore(request.user, target, request.data.get("backup"), request.data.get("from"),
                          request.data.get("addon"))
    return 202, backup_json(row)


@body_schema({"addon": "string (optional)"})
def rotate_credentials(request, app):
    """A new login and password for the app's database, rolled out; the old one is revoked once live."""
    from paas.services.rotation import rotate

    addon = rotate(request.user, access.get_app(request.user, app), request.data.get("addon"))
    return {"addon": addon.name, "attachments": [a.app.name for a in addon.attachments.select_related("app")]}


@body_schema({"at": "string: HH:MM (UTC), empty to stop", "addon": "string (optional)"})
def schedule(request, app):
    """Daily backups at a time of day (UTC), kept 7 daily and 4 weekly."""
    target = access.get_app(request.user, app)
    addon = backups.set_schedule(request.user, target, request.data.get("at"), request.data.get("addon"))
    return {"addon": addon.name, "at": addon.backup_at or None}
