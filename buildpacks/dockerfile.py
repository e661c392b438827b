"""Dockerfile builds: an app with a ``Dockerfile`` (and no buildpack override) is built with buildah.

The build runs like a buildpack build: every step in a build container of the
executor (its own network namespace on the bridge, the app's build uid, no
capability, caps on memory, pids and time, cancellable), output handed over line
by line. buildah (Debian's, from the host stack) runs rootless inside it: it makes
a user namespace of its own (the executor's ``nesting``: runtime/spec.py), where
it is root over the build uid alone and RUN steps run chrooted (``--isolation
chroot``), in the build container's own network namespace.

Base images are never pulled from inside the build: the build's network reaches
no platform address, and the ``FROM`` reference is the tenant's. The platform
pulls each one first (runtime/registry.py: only the registries the operator
allows, digests checked) into an OCI archive the build reads. The image built is
pushed to an OCI archive in the build's output directory, which the caller
imports (runtime/imageimport.py) as any uploaded archive: it is the tenant's data.

Per app cache: buildah's storage (``vfs``) lives in the app's build cache
directory, and ``--layers`` keeps each step's result, so an unchanged step is not
run again on the next push.
"""

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from paas.runtime import registry
from paas.runtime.errors import ImageError

from . import selection, tenantfs
from .errors import BuildError
from .executor import Mount

FILE_NAME = "Dockerfile"
MAX_BYTES = 1 << 20
BUILDER = "dockerfile"
TAG = "localhost/paas-build:latest"
POLICY = '{"default": [{"type": "insecureAcceptAnything"}]}\n'  # the archives are checked on import
# Big temporary files (an archive being read) in the app's cache, not the stack's /var/tmp.
CONTAINERS_CONF = '[engine]\nimage_copy_tmp_dir = "/cache/tmp"\n'
_FROM = re.compile(r"^\s*FROM\s+(.*)$", re.IGNORECASE)
# The buildah flags of every step: the app's storage under /cache, nothing of the host's.
BUILDAH = ("buildah", "--storage-driver", "vfs", "--root", "/cache/storage", "--runroot", "/cache/run")
ENV = {"HOME": "/cache/home", "TMPDIR": "/cache/tmp", "XDG_RUNTIME_DIR": "/cache/xdg", "BUILDAH_ISOLATION": "rootless",
       "PATH": "/usr/local/bin:/usr/bin:/bin", "STORAGE_DRIVER": "vfs", "CONTAINERS_CONF": "/config/containers.conf"}
# Loads the pulled bases into the storage under the names the Dockerfile uses. The names come in
# PAAS_BASES (checked by registry.parse: no shell syntax), never in the script's text.
LOAD_BASES = """set -eu
n=0
for ref in $PAAS_BASES; do
  id=$(buildah --storage-driver vfs --root /cache/storage --runroot /cache/run pull -q \\
       --signature-policy /config/policy.json "oci-archive:/bases/$n.tar")
  buildah --storage-driver vfs --root /cache/storage --runroot /cache/run tag "$id" "$ref"
  n=$((n+1))
done
"""


@dataclass
class ImageBuild:
    """What a Dockerfile build hands the pipeline, in the shape of a slug (buildpacks/slug.py)."""

    archive: Path
    process_types: dict
    size: int = 0
    default_env: dict = field(default_factory=dict)
    buildpacks: tuple = (BUILDER,)
    stack: str = ""


def wanted(source_dir: str, config: dict) -> bool:
    """A Dockerfile at the top of the source, and no buildpack named (BUILDPACK, .buildpacks)."""
    if config.get(selection.OVERRIDE_VAR, "").strip():
        return False
    try:
        st = os.lstat(os.path.join(source_dir, FILE_NAME))
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and tenantfs.read_file(source_dir, selection.OVERRIDE_FILE, 1 << 14) is None


def base_images(text: str) -> list[str]:
    """The images the Dockerfile's stages start from, in order, without stage names and scratch."""
    stages, bases = set(), []
    for line in text.replace("\\\n", " ").splitlines():
        match = _FROM.match(line)
        if not match:
            continue
        words = [w for w in match.group(1).split() if not w.startswith("--")]
        if not words:
            raise BuildError(f"{FILE_NAME}: FROM names no image")
        image = words[0]
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        if image.lower() in stages or image == "scratch":
            continue
        if "$" in image:
            raise BuildError(f"{FILE_NAME}: FROM {image[:100]} uses a build argument; name the image itself")
        if image not in bases:
            bases.append(image)
    return bases


def build(source_dir: str, cache_dir: str, work_dir: str, *, executor, on_output, timeout: float,
          cancel=None, logins=None) -> ImageBuild:
    """Build the Dockerfile of source_dir; the image as an OCI archive under work_dir. BuildError says why not.

    `logins` (registry -> registry.Login) answer registries that ask for one when the platform pulls the
    bases; they stay in this process: nothing of them reaches the build container."""
    text = _read(source_dir)
    bases = base_images(text)
    work, cache = Path(work_dir), Path(cache_dir)
    # The cache is the app's: an earlier build may have left links where directories go. Nothing of
    # the app runs now (one build at a time), so a checked directory stays one until the steps start.
    for path in (cache, *(cache / sub for sub in ("storage", "run", "home", "tmp", "xdg"))):
        _real_dir(path)
    # The platform's own files go in this build's fresh work directory, mounted read-only.
    for sub in ("bases", "out", "config"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    (work / "config" / "policy.json").write_text(POLICY)
    (work / "config" / "containers.conf").write_text(CONTAINERS_CONF)
    refs = []
    for n, base in enumerate(bases):
        on_output(f"-----> Pulling {base}")
        try:
            refs.append(str(registry.pull(base, work / "bases" / f"{n}.tar", logins)))
        except ImageError as error:
            raise BuildError(str(error)) from None
    # /var/tmp: where buildah unpacks an oci-archive whatever TMPDIR says; the stacks have the directory.
    mounts = [Mount(source_dir, "/workspace", True), Mount(str(cache), "/cache", False),
              Mount(str(cache / "tmp"), "/var/tmp", False),
              Mount(str(work / "bases"), "/bases", True), Mount(str(work / "out"), "/out", False),
              Mount(str(work / "config"), "/config", True)]
    env = dict(ENV)

    def step(argv, what, extra=None):
        code = executor.run(argv, env={**env, **(extra or {})}, cwd="/workspace", mounts=mounts, timeout=timeout,
                            on_line=on_output, cancel=cancel)
        if code != 0:
            raise BuildError(f"{what} failed (exit status {code})")

    if refs:
        # The names as the Dockerfile writes them (registry.parse normalised them for the pull).
        step(["/bin/sh", "-c", LOAD_BASES], "loading the base images", {"PAAS_BASES": " ".join(bases)})
    on_output(f"-----> Building the {FILE_NAME} with buildah")
    step([*BUILDAH, "bud", "--pull-never", "--layers", "--signature-policy", "/config/policy.json", "--network", "host",
          # RUN steps run under crun in buildah's user namespace, in this build container's cgroup (its caps).
          "--runtime", "crun", "--runtime-flag", "cgroup-manager=disabled", "--cgroupns", "host",
          # A new proc mount is refused where /proc has masked paths (this build container's): bind this one.
          "--volume", "/proc:/proc:rbind",
          "-f", f"/workspace/{FILE_NAME}", "-t", TAG, "/workspace"], f"the {FILE_NAME} build")
    step([*BUILDAH, "push", "--signature-policy", "/config/policy.json", TAG, "oci-archive:/out/image.tar"],
         "exporting the image")
    from .procfile import read_procfile

    return ImageBuild(archive=work / "out" / "image.tar", process_types=read_procfile(source_dir) or {"web": ""})


def _real_dir(path: Path) -> None:
    """`path` a directory of its own: a link or a file a build left in its place is removed first
    (never followed: the host would write through it as root)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        info = None
    if info is None:
        os.mkdir(path, 0o700)


def _read(source_dir: str) -> str:
    raw = tenantfs.read_file(source_dir, FILE_NAME, MAX_BYTES)
    if raw is None:
        raise BuildError(f"no {FILE_NAME} at the top of the repository")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BuildError(f"{FILE_NAME} is not valid UTF-8 text") from None


def open_archive(build: ImageBuild) -> int:
    """The built archive, opened without following a link (the build wrote it): a descriptor."""
    with tenantfs.root_fd(str(build.archive.parent)) as top:
        fd, info = tenantfs.open_regular(top, build.archive.name, "the built image")
    build.size = info.st_size
    return fd
