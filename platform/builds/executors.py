"""Which executor runs the buildpacks: a build container (default) or local processes."""

from django.conf import settings

from paas.buildpacks.executor import LocalExecutor
from paas.platform.exceptions import Unavailable
from paas.platform.models import App


def get_executor(app: App):
    kind = settings.PAAS_BUILD_EXECUTOR
    if kind == "local":
        return LocalExecutor()
    if kind == "container":
        from paas.runtime.buildexec import ContainerExecutor

        return ContainerExecutor(stack=app.stack, memory_mb=settings.PAAS_BUILD_MEMORY_MB, name=f"build-{app.name}")
    raise Unavailable(f"PAAS_BUILD_EXECUTOR={kind!r} is not one of: container, local")
