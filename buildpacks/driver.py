"""The build driver: source tree in, slug and its metadata out.

    slug = build(source_dir, cache_dir, slug_path, executor=LocalExecutor(),
                 config={"SECRET_KEY": "..."}, on_output=print)

Steps, in order: check the source (symlinks, size) → copy it into a fresh
build dir → choose buildpacks (override or ordered detection) → compile each
→ release of each → Procfile → pack the slug. Every failure raises BuildError
with a one-line reason; output for the developer goes to on_output.
"""

import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from . import cache, hostenv, reuse, selection, slugignore
from .envdir import write_env_dir
from .errors import BuildError, BuildTimeout
from .executor import Executor
from .procfile import read_procfile
from .selection import Buildpack
from .slug import pack_slug
from .sourcetree import check_source, copy_source, human_size
from .steps import Steps, Workspace

DEFAULT_COMPILE_TIMEOUT_S = 15 * 60
DEFAULT_MAX_SLUG_BYTES = 500 * 1024 * 1024
INDENT = "       "


@dataclass
class Slug:
    """A finished build: the slug file and what the platform needs to run it."""

    path: str
    size: int
    sha256: str
    process_types: dict[str, str]
    buildpacks: list[str]
    buildpack_description: str
    default_env: dict[str, str] = field(default_factory=dict)
    addons: list[str] = field(default_factory=list)
    stack: str = "host"

    def metadata(self) -> dict:
        """JSON-ready dict of everything but the slug's path."""
        data = asdict(self)
        del data["path"]
        return data


def build(
    source_dir: str,
    cache_dir: str,
    slug_path: str,
    *,
    executor: Executor,
    config: dict[str, str] | None = None,
    on_output: Callable[[str], None] = lambda line: None,
    compile_timeout: float = DEFAULT_COMPILE_TIMEOUT_S,
    max_slug_bytes: int = DEFAULT_MAX_SLUG_BYTES,
    buildpacks_dir: str = selection.SHIPPED_DIR,
    stack: str = "host",
    source_version: str | None = None,
    require_web: bool = False,
    work_dir: str | None = None,
    cancel: threading.Event | None = None,
    keep_app_dir: str | None = None,
    host_env: dict[str, str] | None = None,
    stacks_languages: dict[str, dict[str, list[str]]] | None = None,
    segments_dir: str | None = None,
    previous_dir: str | None = None,
) -> Slug:
    """Build source_dir into a slug written at slug_path; see buildpacks/README.md.

    cache_dir must exist and is reused across builds of one app. config holds
    the app's config vars (given to buildpacks through ENV_DIR). The source
    tree is not modified. Raises BuildError: BuildTimeout when compile passes
    compile_timeout seconds, BuildCancelled once `cancel` is set (the running
    step is killed). keep_app_dir: where to move the compiled app directory
    the slug was packed from (the caller may use it as the unpacked slug).
    host_env: the environment whose network settings (hostenv.FORWARDED) reach every step;
    by default this process's. stacks_languages: every stack's language versions
    (runtime.stackinfo), named in the message when the app asks for a version its stack lacks.
    segments_dir: the app's slug segment store (segments.py), a directory of the platform's that
    no build can write: unchanged big subtrees are copied from it compressed instead of packed again.
    previous_dir: the app's last slug as this host unpacked it, mounted read-only for compile at
    layout.PREVIOUS_DIR ($PAAS_PREVIOUS_APP): buildpacks take unchanged dependencies from it (a link
    to it that the build replaces with the tree's files as hard links, reuse.py, or a copy), and then
    keep no copy of their own in the cache.
    """
    config = dict(config or {})
    forwarded = hostenv.forwarded(os.environ if host_env is None else host_env)
    forwarded.update(hostenv.stacks_env(stacks_languages or {}))
    check_source(source_dir, max_slug_bytes)
    if not os.path.isdir(cache_dir):
        raise BuildError(f"cache dir {cache_dir} does not exist")

    def waiting() -> None:
        on_output("-----> Waiting for another build of this app to finish")

    with cache.locked(cache_dir, waiting), tempfile.TemporaryDirectory(prefix="paas-build-", dir=work_dir) as scratch:
        ws = _workspace(scratch, source_dir, cache_dir, config, stack, source_version)
        ws.host_env = forwarded
        ws.previous_dir = previous_dir
        _apply_slugignore(ws.app_dir, on_output)
        # Fail fast on a broken Procfile, before minutes of dependency installs.
        read_procfile(ws.app_dir)
        steps = Steps(executor, ws, cancel)
        chosen = _choose(steps, config, ws.app_dir, buildpacks_dir)
        description = " + ".join(text for _, text in chosen)
        _compile_all(steps, chosen, compile_timeout, on_output)
        defaults, default_env, addons = _release_all(steps, [bp for bp, _ in chosen])
        # After the last step: no step of the build ever sees the files shared with the previous slug.
        reuse.materialize(ws.app_dir, previous_dir)
        process_types = _process_types(ws.app_dir, defaults, require_web, on_output, description)
        on_output("-----> Compressing...")
        size, digest = pack_slug(ws.app_dir, slug_path, max_slug_bytes, segments_dir)
        on_output(f"{INDENT}Done: {human_size(size)}")
        if keep_app_dir is not None:
            os.rename(ws.app_dir, keep_app_dir)
    return Slug(
        path=slug_path,
        size=size,
        sha256=digest,
        process_types=process_types,
        buildpacks=[bp.name for bp, _ in chosen],
        buildpack_description=description,
        default_env=default_env,
        addons=addons,
        stack=stack,
    )


def _workspace(scratch, source_dir, cache_dir, config, stack, source_version) -> Workspace:
    ws = Workspace(
        app_dir=os.path.join(scratch, "app"),
        cache_dir=os.path.abspath(cache_dir),
        env_dir=os.path.join(scratch, "env"),
        tmp_dir=os.path.join(scratch, "tmp"),
        stack=stack,
        source_version=source_version,
    )
    copy_source(source_dir, ws.app_dir)
    write_env_dir(ws.env_dir, config)
    os.makedirs(ws.tmp_dir)
    return ws


def _apply_slugignore(app_dir: str, on_output) -> None:
    removed = slugignore.apply(app_dir, slugignore.read_patterns(app_dir))
    if removed:
        on_output(f"-----> Removed {len(removed)} path(s) listed in .slugignore")


def _choose(steps: Steps, config, app_dir, buildpacks_dir) -> list[tuple[Buildpack, str]]:
    """The buildpacks to run, each with the app kind its detect printed."""
    forced = selection.requested(config, app_dir, buildpacks_dir)
    if forced:
        # As on Heroku, a buildpack set by name must still accept the app:
        # compiling an app it does not understand fails later and less clearly.
        chosen = []
        for bp in forced:
            accepted, text = steps.detect(bp)
            if not accepted:
                raise BuildError(f"the app is not compatible with buildpack {bp.name!r}: {text or 'its detect said no'}")
            chosen.append((bp, text or bp.name))
        return chosen
    looked_for = []
    for bp in selection.detection_order(buildpacks_dir):
        accepted, text = steps.detect(bp)
        if accepted:
            return _supplying(steps, buildpacks_dir) + [(bp, text or bp.name)]
        looked_for.append(f"{bp.name} ({text or 'no reason given'})")
    raise BuildError("no buildpack detected this app; looked for: " + "; ".join(looked_for))


def _supplying(steps: Steps, buildpacks_dir) -> list[tuple[Buildpack, str]]:
    """The supplying buildpacks (selection.supply_order) that detect this app."""
    found = []
    for bp, trigger in selection.supply_order(buildpacks_dir):
        # lexists: a link named so is the buildpack's detect to judge (and the tree rules' to refuse).
        if trigger is not None and not os.path.lexists(os.path.join(steps.ws.app_dir, trigger)):
            continue
        accepted, text = steps.detect(bp)
        if accepted:
            found.append((bp, text or bp.name))
    return found


def _compile_all(steps: Steps, chosen: list[tuple[Buildpack, str]], timeout: float, on_output) -> None:
    # One limit for all compiles together: it bounds the whole build.
    deadline = time.monotonic() + timeout
    for bp, description in chosen:
        on_output(f"-----> {description} app detected")
        try:
            steps.compile(bp, max(0.0, deadline - time.monotonic()), on_output)
        except BuildTimeout:
            raise BuildTimeout(
                f"{bp.name} compile ran longer than the build time limit ({human_duration(timeout)}) and was killed"
            ) from None


def human_duration(seconds: float) -> str:
    """900 -> '15 min', 1 -> '1 s'."""
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _release_all(steps: Steps, chosen: list[Buildpack]):
    """Merge each buildpack's release output; later buildpacks win."""
    defaults: dict[str, str] = {}
    env: dict[str, str] = {}
    addons: list[str] = []
    for bp in chosen:
        info = steps.release(bp)
        defaults.update(info.default_process_types)
        env.update(info.config_vars)
        addons.extend(a for a in info.addons if a not in addons)
    return defaults, env, addons


def _process_types(app_dir, defaults, require_web, on_output, description) -> dict[str, str]:
    # Read again after compile: the build may have written it (and may have
    # planted a link or a FIFO there: read_procfile refuses those).
    declared = read_procfile(app_dir)
    on_output("-----> Discovering process types")
    on_output(f"{INDENT}Procfile declares types -> {', '.join(declared) or '(none)'}")
    on_output(f"{INDENT}Default types for {description} -> {', '.join(defaults) or '(none)'}")
    types = {**defaults, **declared}
    if require_web and "web" not in types:
        raise BuildError("the app has no web process: add a line 'web: <command>' to its Procfile")
    return types
