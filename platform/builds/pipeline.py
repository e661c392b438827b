"""One build, start to finish: what the Celery task runs (see tasks/builds.py).

checkout the pushed commit → buildpacks (in a build container) → slug into the
image store → in one transaction: build succeeded + new release. Any failure
marks the build failed with its reason; nothing is released.
"""

import logging
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from paas.buildpacks import dockerfile, slugtree
from paas.buildpacks.driver import build as run_buildpacks
from paas.buildpacks.errors import BuildCancelled, BuildError
from paas.platform.actions.config import current_config
from paas.platform.actions.events import record
from paas.platform.actions.registrylogins import logins
from paas.platform.actions.releases import create_release
from paas.platform.builds import appjson
from paas.platform.builds import cachedir
from paas.platform.builds.cachedir import cache_dir_path
from paas.platform.builds.checkout import checkout

from paas.platform.builds.executors import get_executor
from paas.platform.builds.lease import Lease
from paas.platform.builds.output import CancelWatch, OutputWriter
from paas.platform.exceptions import PlatformError
from paas.platform.git.repos import open_repo
from paas.platform.models import App, Build, Formation, Release
from paas.runtime import identity, imageimport, images
from paas.runtime.errors import ImageError
from paas.runtime.errors import RuntimeLayerError as RunnerError

log = logging.getLogger(__name__)

#: How long a finished build waits for its database to come back (a restart takes seconds).
DATABASE_WAIT_S = 120


def cache_dir(app: App) -> Path:
    path = cache_dir_path(app.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def work_root() -> Path:
    path = Path(settings.PAAS_DATA_DIR) / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_build(build_id: int) -> str:
    """Run build ``build_id`` unless it already finished or another worker builds it; return its final status."""
    claimed = claim(build_id)
    if claimed is None:
        return "skipped"
    build, lease, again = claimed
    try:
        return build_claimed(build, again)
    finally:
        lease.release()


def build_claimed(build: Build, again: bool) -> str:
    out = OutputWriter(build.uuid)
    if again:
        out.line("-----> Building again from the start")
    try:
        with CancelWatch(build.uuid) as cancel:
            slug, image, first_manifest = produce_image(build, out, cancel)
            # The build took minutes: its database connection may not have outlived a restart.
            release = with_database(lambda: publish(build, slug, image, out))
            if release is None:
                return "skipped"
            if first_manifest is not None:
                after_first_release(build, first_manifest, release, slug, out)
    except BuildCancelled as error:
        reason = str(error)
        with_database(lambda: fail(build, out, reason, status=Build.CANCELLED))
        return Build.CANCELLED
    except (BuildError, PlatformError, RunnerError) as error:
        reason = str(error)
        with_database(lambda: fail(build, out, reason))
        return Build.FAILED
    except Exception:
        log.exception("build %s crashed", build.uuid)
        with_database(lambda: fail(build, out, "the build hit an internal error; the platform logged it"))
        raise
    out.line(f"-----> Released v{release.version}")
    with_database(lambda: Build.objects.filter(pk=build.pk).update(output=out.text()))
    out.end(Build.SUCCEEDED, release=release.version)
    return Build.SUCCEEDED


def with_database(step):
    """``step()``; while the database restarts (a lost connection), again on a new connection,
    for up to DATABASE_WAIT_S. Each step is one transaction, so a retried one never half-applied."""
    deadline = time.monotonic() + DATABASE_WAIT_S
    delay = 0.5
    while True:
        try:
            return step()
        except (OperationalError, InterfaceError) as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unreachable (%s); trying again in %g s", str(error).strip()[:200], delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def after_first_release(build: Build, manifest, release: Release, slug, out: OutputWriter) -> None:
    """app.json's formation and postdeploy: the build has succeeded, so a refusal is reported, not fatal."""
    try:
        appjson.apply_after_release(build, manifest, release, slug.process_types, out)
    except PlatformError as error:
        out.line(f" !     app.json could not be applied after the release: {error}")


def claim(build_id: int) -> tuple[Build, Lease, bool] | None:
    """Take the build's lease and mark it building: (build, lease, whether an earlier attempt
    was under way). None when it is finished, or another worker holds it (a redelivered task)."""
    with transaction.atomic():
        build = Build.objects.select_for_update().select_related("app").filter(pk=build_id).first()
        if build is None or build.status in Build.FINISHED:
            return None
        lease = Lease(build.uuid)
        if not lease.acquire():
            return None
        try:
            again = build.started_at is not None
            build.status = Build.BUILDING
            build.started_at = timezone.now()
            build.save(update_fields=["status", "started_at"])
        except BaseException:
            lease.release()
            raise
    return build, lease, again


def produce_image(build: Build, out: OutputWriter, cancel):
    app = build.app
    with tempfile.TemporaryDirectory(prefix=f"build-{app.name}-", dir=work_root()) as tmp:
        source = Path(tmp) / "source"
        cache = str(cache_dir(app))
        checkout(open_repo(app.name), build.commit, source, max_bytes=settings.PAAS_MAX_PUSH_BYTES)
        # Read before the build runs, each waiting out a database restart like the release does.
        manifest, first, app = with_database(lambda: read_manifest(build, source, out))
        config = with_database(lambda: appjson.build_config(manifest, current_config(app).values))
        require_web = with_database(lambda: expects_traffic(app))
        if dockerfile.wanted(str(source), config):
            slug, image = build_dockerfile(app, source, Path(tmp), cache, out, cancel)
            return slug, image, manifest if first else None
        slug = run_buildpacks(
            str(source),
            cache,
            str(Path(tmp) / "slug.tgz"),
            # The build's directories (made under tmp by the driver) and the cache become the app's build uid's.
            executor=get_executor(app, build_dirs=(tmp, cache)),
            config=config,
            on_output=out.line,
            compile_timeout=settings.PAAS_BUILD_TIMEOUT_S,
            max_slug_bytes=settings.PAAS_MAX_SLUG_BYTES,
            stack=app.stack,
            source_version=build.commit,
            work_dir=tmp,
            cancel=cancel,
            require_web=require_web,
            keep_app_dir=str(Path(tmp) / "app"),
            stacks_languages=stacks_languages(),
            segments_dir=str(cachedir.slug_segments_path(app.name)),
            # None here: an empty one, so the buildpacks still keep no copy of their own in the cache.
            previous_dir=with_database(lambda: previous_app_tree(app)) or empty_dir(Path(tmp) / "previous"),
        )
        out.line(f"-----> Compressed slug: {slug.size / 1024 / 1024:.1f} MB")
        # The packer's own file and digest: moved into the store, not read again.
        image = images.put(slug.path, stack=slug.stack, process_types=slug.process_types, env=slug.default_env,
                           packed=slug.sha256)
        # This host's instances start from the compiled tree itself, without unpacking the slug;
        # it becomes the app's (its instances' uid), no longer the build's.
        slugtree.adopt(image.digest, Path(tmp) / "app", uid=identity.app_uid(app.pk))
    return slug, image, manifest if first else None


def empty_dir(path: Path) -> str:
    path.mkdir()
    return str(path)


def previous_app_tree(app: App) -> str | None:
    """The /app tree of the app's last succeeded build on its stack, as this host has it unpacked
    (its instances' layer, owned by the app's uid); None when there is none here. Buildpacks copy
    unchanged dependencies from it (read-only in compile) instead of keeping a copy in the cache."""
    last = (Build.objects.filter(app=app, status=Build.SUCCEEDED, stack=app.stack).exclude(slug_digest="")
            .order_by("-finished_at").first())
    if last is None:
        return None
    try:
        layer = images.unpacked(last.slug_digest, uid=identity.app_uid(app.pk))
    except ImageError:
        return None
    if layer is None or not (layer / "app").is_dir():
        return None
    return str(layer / "app")


def build_dockerfile(app: App, source: Path, tmp: Path, cache: str, out: OutputWriter, cancel):
    """The app's Dockerfile built with buildah (its storage a cache of the app's own), then imported
    into the image store as the tenant's data: (the build, its image)."""
    storage = Path(cache) / "dockerfile"
    work = tmp / "dockerfile"
    work.mkdir()
    # The app's registry logins serve the platform's pulls of its FROM images; the build never sees them.
    pull_logins = with_database(lambda: logins(app))
    owner = identity.app_uid(app.pk)
    # Held from the base's layers going into the store until the image names them: gc leaves them be.
    with images.importing():
        result = dockerfile.build(str(source), str(storage), str(work),
                                  executor=get_executor(app, build_dirs=(str(tmp), cache), dockerfile=True),
                                  on_output=out.line, timeout=settings.PAAS_BUILD_TIMEOUT_S, cancel=cancel,
                                  logins=pull_logins, bases_dir=str(cachedir.base_images_path(app.name)), owner=owner)
        out.line("-----> Importing the image")
        try:
            built = dockerfile.open_image(result)
            # The app's own layers (its base's, earlier steps'), still in the store, are taken by digest unread.
            image = imageimport.import_archive(built, process_types=result.process_types, owner=owner)
        except ImageError as error:
            raise BuildError(f"the built image cannot be used: {error}") from None
    dockerfile.prune(result, built)
    result.size = image.size
    out.line(f"-----> Image {image.digest[7:19]}: {len(image.layers)} layers, {result.size / 1024 / 1024:.1f} MB")
    return result, image


def read_manifest(build: Build, source: Path, out: OutputWriter):
    """(app.json or None, whether this is the app's first push, the app as the build uses it).
    On a first push app.json's config vars and stack are applied before the build; a bad
    app.json fails the build with nothing applied."""
    from paas.buildpacks.appjson import read

    manifest = read(str(source))
    app = build.app
    first = manifest is not None and appjson.is_first_push(build)
    if first:
        config = current_config(app).values
        appjson.check(app, manifest, config)
        app = appjson.apply_before_build(build, manifest, config, out)
    return manifest, first, app


def stacks_languages() -> dict:
    """Every stack's language versions, for the buildpacks' message when an app asks for one
    its stack lacks."""
    from paas.platform.actions.apps import available_stacks
    from paas.runtime import stackinfo

    return {name: stackinfo.languages(name) for name in available_stacks()}


def expects_traffic(app: App) -> bool:
    """An app whose live release serves web traffic must keep a web process."""
    from paas.platform.control.deploys import serving_release

    serving = serving_release(app)
    return serving is not None and "web" in serving.process_types


def publish(build: Build, slug, image, out: OutputWriter) -> Release | None:
    """Record the build and its release together: both or neither. None when another attempt at
    this build finished first (its lease lapsed while Redis was away): its result stands."""
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=build.app_id)
        if Build.objects.filter(pk=build.pk, status__in=Build.FINISHED).exists():
            return None
        build.status = Build.SUCCEEDED
        build.finished_at = timezone.now()
        build.slug_digest = image.digest
        build.slug_size = slug.size
        build.process_types = slug.process_types
        build.default_env = slug.default_env
        build.buildpack = ",".join(slug.buildpacks)
        build.stack = slug.stack
        build.output = out.text()
        build.save()
        if "web" in slug.process_types and not app.formation.exists():
            Formation.objects.create(app=app, process_type="web", quantity=1)
        record(build.created_by, "build.succeeded", f"built {build.commit[:7]} with {build.buildpack}", app=app,
               build=str(build.uuid))
        return create_release(
            app, user=build.created_by, build=build, config=current_config(app), summary=f"Deploy {build.commit[:7]}"
        )


def fail(build: Build, out: OutputWriter, reason: str, status: str = Build.FAILED) -> None:
    out.line(f" !     {reason}")
    with transaction.atomic():
        Build.objects.filter(pk=build.pk).update(
            status=status, error=reason[:2000], output=out.text(), finished_at=timezone.now()
        )
        record(build.created_by, f"build.{status}", f"build of {build.commit[:7]} {status}: {reason[:200]}",
               app=build.app, build=str(build.uuid))
    out.end(status, message=reason)
