"""Domain objects as the JSON the API returns."""

from paas.platform.models import App, Build, Domain, Event, Formation, Instance, Release


def iso(value):
    return value.isoformat() if value else None


def app_json(app: App, git_base: str | None = None) -> dict:
    """git_base: where this caller pushes (api/origin.py); the configured git URL when not given."""
    release = app.latest_release()
    return {
        "name": app.name,
        "owner": app.owner.username,
        "team": app.team.name if app.team_id else None,
        "stack": app.stack,
        "maintenance": app.maintenance,
        "health_check_path": app.health_check_path or None,
        "egress": "allowed" if app.egress else "denied",
        "https_redirect": app.https_redirect,
        "hsts_max_age": app.hsts_max_age,
        "acme": app.acme,
        "web_url": app.web_url,
        "git_url": app.git_url_at(git_base) if git_base else app.git_url,
        "release": release.version if release else None,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
    }


def release_json(release: Release) -> dict:
    return {
        "version": release.version,
        "summary": release.summary,
        "status": release.status,
        "status_message": release.status_message,
        "build": str(release.build.uuid) if release.build_id else None,
        "commit": release.build.commit if release.build_id else None,
        "config_keys": sorted(release.config.values),
        "rollback_of": release.rollback_of.version if release.rollback_of_id else None,
        "created_by": release.created_by.username if release.created_by_id else None,
        "created_at": iso(release.created_at),
    }


def build_json(build: Build) -> dict:
    return {
        "id": str(build.uuid),
        "status": build.status,
        "commit": build.commit,
        "ref": build.ref,
        "stack": build.stack,
        "buildpack": build.buildpack,
        "process_types": build.process_types,
        "slug_digest": build.slug_digest or None,
        "slug_size": build.slug_size,
        "duration_s": build.duration_s,
        "error": build.error,
        "created_at": iso(build.created_at),
    }


def formation_json(formation: Formation) -> dict:
    return {"type": formation.process_type, "quantity": formation.quantity, "size": formation.size,
            "stopped": formation.stopped}


def instance_json(instance: Instance) -> dict:
    return {
        "name": instance.name,
        "process": instance.label,
        "type": instance.process_type,
        "release": instance.release.version,
        "size": instance.size,
        "state": instance.state,
        "desired_state": instance.desired_state,
        "host": instance.host.name if instance.host_id else None,
        "unplaced_reason": instance.unplaced_reason or None,
        "restarts": instance.restarts,
        "exit_code": instance.exit_code,
        "memory_bytes": instance.memory_bytes,
        "cpu_seconds": instance.cpu_seconds,
        "started_at": iso(instance.started_at),
    }


def domain_json(domain: Domain) -> dict:
    """A custom domain, its state, and the TXT record that proves it (shown to the app's members only)."""
    return {"hostname": domain.hostname, "app": domain.app.name, "state": domain.state,
            "verified_by": domain.verified_by or None, "verified_at": iso(domain.verified_at),
            "record": {"type": "TXT", "name": domain.record_name, "value": domain.token},
            "created_at": iso(domain.created_at)}


def event_json(event: Event, viewer_id: int, member_app_ids: set[int]) -> dict:
    """One event as ``viewer_id`` may see it: what only members see (a run's command) goes
    to the event's actor and to members of its app while it exists, not to admins as such."""
    insider = event.actor_id == viewer_id or event.app_id in member_app_ids
    return {
        "id": event.pk,
        "app": event.app_name or None,
        "app_id": event.app_pk,
        "app_destroyed": bool(event.app_name) and event.app_id is None,
        "actor": event.actor_name or None,
        "action": event.action,
        "message": event.message,
        "data": event.data if insider else event.public_data(),
        "created_at": iso(event.created_at),
    }


def token_json(token) -> dict:
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "description": token.description,
        "scopes": token.scopes,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
        "active": token.is_active(),
    }
