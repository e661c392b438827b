"""Running one buildpack's bin/detect, bin/compile and bin/release through an executor."""

import threading
from dataclasses import dataclass, field
from typing import Callable

from . import hostenv, layout
from .errors import BuildCancelled, BuildError
from .executor import Executor, Mount
from .release import MAX_OUTPUT_BYTES, ReleaseInfo, parse_release
from .selection import Buildpack

# detect and release only look at files: a minute is generous, and a hung
# third-party script must not hold a build worker. They run without network.
DETECT_TIMEOUT_S = 60.0
RELEASE_TIMEOUT_S = 60.0
# What detect printed names the app kind in the build output: a line, not a file.
DETECT_TEXT_CHARS = 200

# Heroku buildpacks mark error lines with " !"; the last one is the reason.
_ERROR_MARK = " !"


@dataclass
class Workspace:
    """Host directories of one build; steps see them at the layout.* paths."""

    app_dir: str
    cache_dir: str
    env_dir: str
    tmp_dir: str
    stack: str
    source_version: str | None = None
    host_env: dict[str, str] = field(default_factory=dict)  # hostenv.forwarded(): proxies, indexes
    previous_dir: str | None = None  # the app's last slug, unpacked (layout.PREVIOUS_DIR in compile)


class Steps:
    """The three bin/ scripts of any buildpack, run by one executor."""

    def __init__(self, executor: Executor, workspace: Workspace, cancel: threading.Event | None = None):
        self.executor = executor
        self.ws = workspace
        self.cancel = cancel

    def detect(self, bp: Buildpack) -> tuple[bool, str]:
        """(True, name it printed) when bin/detect accepts the app, else (False, its last line)."""
        # Only the last non-empty line is used: keeping just it bounds the memory a chatty detect costs.
        last = [""]

        def keep(line: str) -> None:
            if line.strip():
                last[0] = line.strip()[:DETECT_TEXT_CHARS]

        code = self._run(bp, "detect", [layout.APP_DIR], DETECT_TIMEOUT_S, keep, network=False, looks_only=True)
        return code == 0, last[0]

    def compile(self, bp: Buildpack, timeout: float, on_line: Callable[[str], None]) -> None:
        """Run bin/compile BUILD_DIR CACHE_DIR ENV_DIR, streaming its output.

        Raises BuildError naming the buildpack's last " !" line when it fails,
        and lets the executor's BuildTimeout through.
        """
        errors: list[str] = []

        def forward(line: str) -> None:
            if line.startswith(_ERROR_MARK):
                errors.append(line.lstrip(" !").strip())
            on_line(line)

        args = [layout.APP_DIR, layout.CACHE_DIR, layout.ENV_DIR]
        code = self._run(bp, "compile", args, timeout, forward)
        if code != 0:
            reason = next((e for e in reversed(errors) if e), f"exit status {code}; see the output above")
            raise BuildError(f"{bp.name} compile failed: {reason}")

    def release(self, bp: Buildpack) -> ReleaseInfo:
        """Run bin/release BUILD_DIR and parse the YAML it prints on stdout (at most MAX_OUTPUT_BYTES)."""
        lines: list[str] = []
        size = [0]

        def keep(line: str) -> None:
            # Counted as it arrives, and nothing kept past the cap: the script
            # may cat any file the build wrote.
            size[0] += len(line) + 1
            if size[0] <= MAX_OUTPUT_BYTES:
                lines.append(line)

        code = self._run(bp, "release", [layout.APP_DIR], RELEASE_TIMEOUT_S, keep, network=False,
                         looks_only=True)
        if size[0] > MAX_OUTPUT_BYTES:
            raise BuildError(f"{bp.name} bin/release printed more than {MAX_OUTPUT_BYTES // 1024} KB")
        if code != 0:
            raise BuildError(f"{bp.name} bin/release failed with exit status {code}")
        return parse_release("\n".join(lines), bp.name)

    def _run(self, bp: Buildpack, script: str, args: list[str], timeout: float, on_line, *,
             network: bool = True, looks_only: bool = False) -> int:
        if self.cancel is not None and self.cancel.is_set():
            raise BuildCancelled("the build was cancelled")
        bp_target = layout.buildpack_target(bp.name)
        try:
            return self.executor.run(
                [f"{bp_target}/bin/{script}", *args],
                env=self._env(looks_only),
                cwd=layout.APP_DIR,
                mounts=self._mounts(bp, bp_target, looks_only),
                timeout=timeout,
                on_line=on_line,
                cancel=self.cancel,
                # detect and release look at files: no network for them (Heroku's contract needs none).
                network=network,
            )
        except OSError as exc:
            # Typically a script without its executable bit or with a bad #! line.
            raise BuildError(f"{bp.name} bin/{script} could not be started: {exc.strerror or exc}") from None

    def _mounts(self, bp: Buildpack, bp_target: str, looks_only: bool = False) -> list[Mount]:
        """What a step sees. `looks_only` (detect, release: Heroku gives them BUILD_DIR alone): the app
        read-only and no cache, so nothing is walked again after them (containerexec's hand-over)."""
        mounts = [Mount(self.ws.app_dir, layout.APP_DIR, read_only=looks_only)]
        if not looks_only:
            mounts.append(Mount(self.ws.cache_dir, layout.CACHE_DIR, read_only=False))
            if self.ws.previous_dir:
                mounts.append(Mount(self.ws.previous_dir, layout.PREVIOUS_DIR, read_only=True))
        return mounts + [
            Mount(self.ws.env_dir, layout.ENV_DIR, read_only=True),
            Mount(self.ws.tmp_dir, layout.TMP_DIR, read_only=False),
            Mount(bp.path, bp_target, read_only=True),
        ]

    def _env(self, looks_only: bool = False) -> dict[str, str]:
        # Config vars reach buildpacks only through ENV_DIR (Heroku's rule),
        # so a var like PATH or LD_PRELOAD cannot break the build tools.
        env = {
            **self.ws.host_env,
            **hostenv.ca_env(),
            "PATH": layout.STACK_PATH,
            "HOME": layout.TMP_DIR,
            "TMPDIR": layout.TMP_DIR,
            "LANG": "C.UTF-8",
            "STACK": self.ws.stack,
        }
        if self.ws.source_version:
            env["SOURCE_VERSION"] = self.ws.source_version
        if self.ws.previous_dir and not looks_only:
            env["PAAS_PREVIOUS_APP"] = layout.PREVIOUS_DIR
        return env
