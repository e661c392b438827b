"""receive-pack that builds before it accepts: a failed build rejects the push.

dulwich stores the pushed objects, then asks ``_on_update`` before moving the
branch. We build there, streaming the output to the client as ``remote:``
lines on the progress side band, and refuse the ref update when the build
fails, so the repository's branch only ever points at code that built.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections
from dulwich.protocol import SIDE_BAND_CHANNEL_PROGRESS
from dulwich.server import ReceivePackHandler
from dulwich.errors import HookError

from paas.platform.actions.builds import start_build
from paas.platform.builds.rollout_watch import app_output, rollout_timeout, wait_for_rollout
from paas.platform.builds.output import follow
from paas.platform.git.lock import PushLock
from paas.platform.git.refs import push_problem
from paas.platform.models import App, Build, Release

# Time to wait for a build beyond its own limit: queueing and the slug upload.
FOLLOW_MARGIN_S = 300


@dataclass
class PushContext:
    user: object
    app: App


class DeployingReceivePackHandler(ReceivePackHandler):
    context: PushContext  # set by for_push()

    @classmethod
    def for_push(cls, context: PushContext):
        def make(backend, args, proto, stateless_rpc=False, advertise_refs=False):
            handler = cls(backend, args, proto, stateless_rpc=stateless_rpc, advertise_refs=advertise_refs)
            handler.context = context
            handler.lock = None
            return handler

        return make

    def say(self, line: str) -> None:
        if self._client_capabilities is not None:
            self.proto.write_sideband(SIDE_BAND_CHANNEL_PROGRESS, (line + "\n").encode("utf-8", "replace"))

    def handle(self) -> None:
        try:
            super().handle()
        finally:
            if self.lock is not None:
                self.lock.release()

    def _on_pre_receive(self, client_refs) -> None:
        problem = push_problem(client_refs)
        if problem is None:
            self.lock = PushLock(self.context.app.name)
            if not self.lock.acquire():
                self.lock = None
                problem = f"another push to {self.context.app.name} is being built; try again when it finishes"
        if problem:
            # git shows the progress band as "remote:" lines; the fatal band it may not show.
            self.say(f" !     {problem}")
            raise HookError(problem)

    def _on_update(self, ref_name, old_sha, new_sha) -> bytes | None:
        app = self.context.app
        commit = new_sha.decode()
        build = start_build(self.context.user, app, commit, ref_name.decode())
        self.say(f"-----> Building {app.name} from {commit[:7]} (build {str(build.uuid)[:8]})")
        end = follow(build.uuid, self.say, timeout=settings.PAAS_BUILD_TIMEOUT_S + FOLLOW_MARGIN_S)
        close_old_connections()
        if end is None:
            Build.objects.filter(pk=build.pk, status__in=[Build.PENDING, Build.BUILDING]).update(
                status=Build.FAILED, error="no build worker finished the build in time")
            return b"build did not finish in time (is a build worker running?)"
        if end.status != Build.SUCCEEDED:
            return f"build failed: {end.message}".encode("utf-8", "replace")[:1000]
        return self.launch(app, end.release)

    def launch(self, app: App, version: int) -> bytes | None:
        """Wait for the rollout: the push ends with the app serving the new code, or says why not."""
        self.say("-----> Launching...")
        release = wait_for_rollout(app.name, version, rollout_timeout())
        if release is not None and release.status == Release.SUCCEEDED:
            self.say(f"       done, v{version}")
            self.say(f"       {app.web_url} deployed to paas")
            return None
        reason = release.status_message if release is not None else "it did not finish in time (is a host agent up?)"
        self.say(f" !     v{version} did not go live: {reason}; the previous release keeps serving")
        for line in app_output(app.name, version):
            self.say(f"       | {line}")
        return f"deploy failed: {reason}".encode("utf-8", "replace")[:1000]
