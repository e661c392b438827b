"""app.json on an app's first push: config vars, stack and buildpacks before the build,
formation and the postdeploy script after its release (the manifest: buildpacks/appjson.py).

"First push" is a build of an app that has no succeeded build yet: a first push whose build
failed leaves the next push a first push too, and applying again sets only what is still
unset, so the generated secret of an earlier attempt stays. Everything that can be refused
is checked before anything is applied: a bad app.json changes nothing.
"""

import secrets

from paas.buildpacks.appjson import Manifest
from paas.buildpacks.errors import BuildError
from paas.platform.actions.events import record
from paas.platform.exceptions import Invalid
from paas.platform.models import App, Build


def is_first_push(build: Build) -> bool:
    return not Build.objects.filter(app_id=build.app_id, status=Build.SUCCEEDED).exclude(pk=build.pk).exists()


def check(app: App, manifest: Manifest, config: dict) -> None:
    """Refuse, naming the JSON path, what the manifest asks that this platform cannot do."""
    from paas.platform.actions.apps import available_stacks
    from paas.platform.actions.config import check_changes
    from paas.platform.actions.formation import parse_scale_changes

    if manifest.formation:
        try:
            parse_scale_changes(manifest.formation)
        except Invalid as exc:
            raise BuildError(f"app.json: $.formation: {exc}") from None
    if manifest.stack is not None and manifest.stack not in available_stacks():
        known = ", ".join(sorted(available_stacks()))
        raise BuildError(f"app.json: $.stack: no stack of that name here (stacks here: {known})")
    missing = [name for name, var in manifest.env.items()
               if name not in config and var.value is None and var.generator is None and var.required]
    if missing:
        raise BuildError(f"app.json: $.env.{missing[0]}: required and has no value; set it first with "
                         f"paas config:set {missing[0]}=...")
    values = {name: var.value for name, var in manifest.env.items() if var.value is not None}
    try:
        if values:
            check_changes(values)
    except Invalid as exc:
        raise BuildError(f"app.json: $.env: {exc}") from None


def new_config_vars(manifest: Manifest, config: dict) -> dict[str, str]:
    """The vars to set: those not set yet that have a value or a generator."""
    found = {}
    for name, var in manifest.env.items():
        if name in config:
            continue
        if var.generator == "secret":
            found[name] = secrets.token_hex(32)  # 64 hex characters, as Heroku's generator makes
        elif var.value is not None:
            found[name] = var.value
    return found


def apply_before_build(build: Build, manifest: Manifest, config: dict, out) -> App:
    """Config vars and stack of a first push; returns the app as the build must use it."""
    from paas.platform.actions.config import change_config

    app = build.app
    changes = new_config_vars(manifest, config)
    if changes:
        change_config(build.created_by, app, changes)
        out.line(f"-----> app.json: set {', '.join(sorted(changes))}")
    if manifest.stack is not None and manifest.stack != app.stack:
        App.objects.filter(pk=app.pk).update(stack=manifest.stack)
        app.stack = manifest.stack
        out.line(f"-----> app.json: stack {manifest.stack}")
    if changes or manifest.stack:
        record(build.created_by, "app.json", "applied app.json on the first push", app=app,
               config=sorted(changes), stack=manifest.stack or "")
    return app


def build_config(manifest: Manifest | None, config: dict) -> dict:
    """The config the buildpacks see: app.json's buildpacks unless BUILDPACK is set."""
    if manifest is not None and manifest.buildpacks and "BUILDPACK" not in config:
        return {**config, "BUILDPACK": ",".join(manifest.buildpacks)}
    return config


def apply_after_release(build: Build, manifest: Manifest, release, process_types: dict, out) -> None:
    """Formation (for the process types the build has) and the postdeploy one-off, once."""
    from paas.platform.actions.formation import apply_change, parse_scale_changes
    from paas.platform.actions.runs import start_run

    app = build.app
    wanted = {t: spec for t, spec in manifest.formation.items() if t in process_types}
    for change in parse_scale_changes(wanted) if wanted else []:
        apply_change(app, change)
    if wanted:
        out.line(f"-----> app.json: formation {', '.join(f'{t}' for t in sorted(wanted))}")
    if manifest.postdeploy:
        run = start_run(build.created_by, app, manifest.postdeploy, release=release)
        out.line(f"-----> app.json: postdeploy runs as {run.name}")
