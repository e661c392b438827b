"""Which executor runs the buildpacks: a build container (default) or local processes."""

from django.conf import settings

from paas.buildpacks.executor import LocalExecutor
from paas.platform.exceptions import Unavailable
from paas.platform.models import App


def get_executor(app: App, build_dirs: tuple[str, ...] = (), *, dockerfile: bool = False):
    """The executor of `app`'s builds; `build_dirs`: the directories that are this build's own
    (handed to the app's build uid, see buildpacks/containerexec.py). `dockerfile`: a buildah build
    (buildpacks/dockerfile.py), on the host stack (whose /usr has buildah) in a container that may nest,
    or on the Docker engine PAAS_BUILD_DOCKER_HOST names (buildpacks/enginebuild.py)."""
    kind = settings.PAAS_BUILD_EXECUTOR
    if dockerfile and settings.PAAS_BUILD_DOCKER_HOST:
        from paas.buildpacks.enginebuild import Engine

        return Engine(settings.PAAS_BUILD_DOCKER_HOST, app.name, app.pk, memory_mb=settings.PAAS_BUILD_MEMORY_MB,
                      max_context_bytes=settings.PAAS_MAX_PUSH_BYTES)
    if kind == "local" and dockerfile:
        raise Unavailable("Dockerfile builds run in build containers only (PAAS_BUILD_EXECUTOR=container)")
    if kind == "local":
        return LocalExecutor()
    if kind == "container":
        from paas.runtime import identity
        from paas.buildpacks.containerexec import ContainerExecutor

        return ContainerExecutor(stack="host" if dockerfile else app.stack, memory_mb=settings.PAAS_BUILD_MEMORY_MB,
                                 name=f"build-{app.name}", uid=identity.build_uid(app.pk), build_dirs=build_dirs,
                                 nesting=dockerfile)
    raise Unavailable(f"PAAS_BUILD_EXECUTOR={kind!r} is not one of: container, local")
