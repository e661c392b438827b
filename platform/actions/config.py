"""Config vars: each change is a new immutable snapshot and a new release."""

from django.db import transaction

from paas.platform.actions.releases import create_release
from paas.platform.exceptions import Invalid
from paas.platform.models import App, Config, Release
from paas.platform.names import check_env_key, check_text

MAX_VALUE_BYTES = 32 * 1024
MAX_TOTAL_BYTES = 256 * 1024


def current_config(app: App) -> Config:
    release = app.latest_release()
    if release is not None:
        return release.config
    return app.configs.order_by("-id").first() or Config(app=app, values={})


def change_config(user, app: App, changes: dict) -> Release:
    """Apply ``{KEY: value}`` (a None value unsets KEY) and release the result."""
    clean = check_changes(changes)
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        latest = app.latest_release()
        values = dict(latest.config.values) if latest else {}
        missing = [key for key, value in clean.items() if value is None and key not in values]
        if missing:
            raise Invalid(f"config var{'s' if len(missing) > 1 else ''} not set: {', '.join(missing)}")
        for key, value in clean.items():
            if value is None:
                values.pop(key)
            else:
                values[key] = value
        check_total(values)
        config = Config.objects.create(app=app, values=values, created_by=user)
        return create_release(
            app, user=user, build=latest.build if latest else None, config=config, summary=summarize(clean)
        )


def check_changes(changes) -> dict:
    if not isinstance(changes, dict) or not changes:
        raise Invalid("give at least one config var, as an object of KEY: value (null to unset)")
    clean = {}
    for key, value in changes.items():
        check_env_key(key)
        if value is not None and not isinstance(value, str):
            raise Invalid(f"config var {key} must be a string (or null to unset), got {type(value).__name__}")
        if value is not None:
            # Multi-line values (a PEM key) are fine; NUL, surrogates and other controls are not.
            check_text(value, f"config var {key}", multiline=True)
            if len(value.encode()) > MAX_VALUE_BYTES:
                raise Invalid(f"config var {key} must be at most {MAX_VALUE_BYTES} bytes")
        clean[key] = value
    return clean


def check_total(values: dict) -> None:
    total = sum(len(k) + len(v.encode()) for k, v in values.items())
    if total > MAX_TOTAL_BYTES:
        raise Invalid(f"config would total {total} bytes, over the limit of {MAX_TOTAL_BYTES}")


def summarize(changes: dict) -> str:
    set_keys = [k for k, v in changes.items() if v is not None]
    unset_keys = [k for k, v in changes.items() if v is None]
    parts = []
    if set_keys:
        parts.append("Set " + ", ".join(set_keys) + " config var" + ("s" if len(set_keys) > 1 else ""))
    if unset_keys:
        parts.append("Remove " + ", ".join(unset_keys) + " config var" + ("s" if len(unset_keys) > 1 else ""))
    return "; ".join(parts)[:300]
