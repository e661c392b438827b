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
allows, digests checked), once per app, and loads it once into a read-only
image store the builds name (dockerbases.py).

The image built is pushed to an OCI layout directory in the app's cache, where
the blobs of unchanged layers are already there (or stand in: SCRIPT) and are
not read or written again. The caller imports it
(runtime/imageimport.py) as tenant data: every file opened without following a
link (open_image), and a layer the app imported before and the store holds is
not read again (images.proven); blobs no longer part of the image are removed
after (prune).

Per app cache: buildah's storage (``overlay``: the kernel's own overlayfs,
mounted in buildah's user namespace, so a step's container is a mount, not a
copy of its image) lives in the app's build cache directory, and ``--layers``
keeps each step's result, so an unchanged step is not run again on the next
push. The bases' files are not in it (their stores are the platform's).
"""

import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from paas.runtime import images
from paas.runtime.errors import ImageError
from paas.runtime.imagearchive import Layout

from . import dockerbases, selection, tenantfs
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
STORAGE = "overlay"  # the cache's subdirectory holding buildah's storage (earlier builds' "storage" was vfs)
LAYOUT = "oci"       # the cache's subdirectory holding the built image as an OCI layout
# The buildah flags of the build: the app's storage under /cache, nothing of the host's. The driver
# (overlay) comes from storage.conf: naming it here would drop the conf's additional image stores.
BUILDAH = ("buildah", "--root", f"/cache/{STORAGE}", "--runroot", "/cache/run")
ENV = {"HOME": "/cache/home", "TMPDIR": "/cache/tmp", "XDG_RUNTIME_DIR": "/cache/xdg", "BUILDAH_ISOLATION": "rootless",
       "PATH": "/usr/local/bin:/usr/bin:/bin", "CONTAINERS_CONF": "/config/containers.conf",
       "CONTAINERS_STORAGE_CONF": "/config/storage.conf"}
# The build is one step (one container, one walk of the cache after it: containerexec.py): the build
# ("$@", its bases in read-only image stores: dockerbases.py), then the push into the layout. The
# push reads and writes (gzipped: this buildah's --disable-compression leaves OCI layouts compressed)
# only the layers whose blob the layout lacks; a layer the app has proven (images.proven: the import
# never opens its blob) gets an empty stand-in named by its digest, so it is neither read from the
# storage nor compressed again. Stand-ins of layers no longer proven go first. The digests come in
# PAAS_PROVEN (hex only), never in the script's text. A failing phase exits with its own status (PHASES).
SCRIPT = f"""set -u
echo "-----> Building the {FILE_NAME} with buildah"
"$@" || exit 11
blobs=/cache/{LAYOUT}/blobs/sha256
mkdir -p "$blobs" && find "$blobs" -maxdepth 1 -type f -size 0 -delete || exit 12
for d in $PAAS_PROVEN; do
  [ -e "$blobs/$d" ] || : > "$blobs/$d" || exit 12
done
{' '.join(BUILDAH)} push --disable-compression --signature-policy /config/policy.json {TAG} \\
  "oci:/cache/{LAYOUT}:paas-build" || exit 12
"""
PHASES = {11: f"the {FILE_NAME} build", 12: "exporting the image"}


@dataclass
class ImageBuild:
    """What a Dockerfile build hands the pipeline, in the shape of a slug (buildpacks/slug.py)."""

    layout: Path          # the built image: an OCI layout directory in the app's cache (the tenant's data)
    process_types: dict
    size: int = 0         # the image's, once imported
    default_env: dict = field(default_factory=dict)
    buildpacks: tuple = (BUILDER,)
    stack: str = ""


@runtime_checkable
class ImageBuilder(Protocol):
    """What builds a Dockerfile whole in place of buildah in a build container: a Docker engine
    (enginebuild.py, where PAAS_BUILD_DOCKER_HOST names one). Same arguments and result as build()."""

    def build_image(self, source_dir: str, work_dir: str, **options) -> ImageBuild:
        ...


def wanted(source_dir: str, config: dict) -> bool:
    """A Dockerfile at the top of the source, and no buildpack named (BUILDPACK, .buildpacks)."""
    if config.get(selection.OVERRIDE_VAR, "").strip():
        return False
    try:
        st = os.lstat(os.path.join(source_dir, FILE_NAME))
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and tenantfs.read_file(source_dir, selection.OVERRIDE_FILE, 1 << 14) is None


def instructions(text: str) -> list[tuple[int, int, str, list[str]]]:
    """The Dockerfile's instructions: (first line, last line, keyword in capitals, its words), lines
    joined where they end in a backslash; comment lines are left out."""
    found, start, parts = [], None, []
    for number, line in enumerate(text.splitlines()):
        if start is None:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        elif line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        more = line.rstrip().endswith("\\")
        parts.append(line.rstrip()[:-1] if more else line)
        if not more:
            words = " ".join(parts).split()
            found.append((start, number, words[0].upper(), words[1:]))
            start, parts = None, []
    if start is not None and " ".join(parts).split():
        words = " ".join(parts).split()
        found.append((start, start + len(parts) - 1, words[0].upper(), words[1:]))
    return found


def from_image(words: list[str]) -> tuple[int, str] | None:
    """Where a FROM's image is among its words, and the image (None: FROM names none)."""
    for index, word in enumerate(words):
        if not word.startswith("--"):
            return index, word
    return None


def copy_source(words: list[str]) -> tuple[int, str] | None:
    """Where a COPY's ``--from=`` is among its words, and what it names (None: it has none)."""
    for index, word in enumerate(words):
        if word.lower().startswith("--from="):
            return index, word[len("--from="):]
        if not word.startswith("--"):
            return None
    return None


def base_images(text: str) -> list[str]:
    """The images the Dockerfile's stages start from and its ``COPY --from`` copies out of, in order,
    without stage names (or numbers) and scratch: every image the build reads."""
    stages, bases = set(), []
    for _, _, keyword, words in instructions(text):
        if keyword == "FROM":
            found = from_image(words)
            if found is None:
                raise BuildError(f"{FILE_NAME}: FROM names no image")
            index, image = found
            rest = words[index + 1:]
            if len(rest) >= 2 and rest[0].lower() == "as":
                stages.add(rest[1].lower())
        elif keyword in ("COPY", "ADD") and (found := copy_source(words)):
            image = found[1]
            if image.isdigit():
                continue
        else:
            continue
        if image.lower() in stages or image == "scratch":
            continue
        if "$" in image:
            raise BuildError(f"{FILE_NAME}: {keyword} {image[:100]} uses a build argument; name the image itself")
        if image not in bases:
            bases.append(image)
    return bases


def build(source_dir: str, cache_dir: str, work_dir: str, *, executor, on_output, timeout: float,
          cancel=None, logins=None, bases_dir: str | None = None, owner: int | None = None) -> ImageBuild:
    """Build the Dockerfile of source_dir; the image as an OCI layout under cache_dir. BuildError says why not.

    `logins` (registry -> registry.Login) answer registries that ask for one when the platform pulls the
    bases; they stay in this process: nothing of them reaches the build container. `bases_dir`: where
    the platform keeps the bases it pulled for this app (its own directory; default: this build's).
    `owner`: the app's uid, whose proven layers (images.proven) the import of this build will not read.
    An `executor` that is an ImageBuilder (a Docker engine) builds it instead, the cache its own."""
    if isinstance(executor, ImageBuilder):
        return executor.build_image(source_dir, work_dir, on_output=on_output, timeout=timeout, cancel=cancel,
                                    logins=logins, bases_dir=bases_dir, owner=owner)
    text = read_dockerfile(source_dir)
    work, cache = Path(work_dir), Path(cache_dir)
    _prepare_cache(cache)
    # The platform's own files go in this build's fresh work directory, mounted read-only.
    (work / "config").mkdir(parents=True, exist_ok=True)
    (work / "config" / "policy.json").write_text(POLICY)
    (work / "config" / "containers.conf").write_text(CONTAINERS_CONF)
    pulls = Path(bases_dir) if bases_dir else work / "bases"
    pulls.mkdir(parents=True, exist_ok=True, mode=0o755)
    bases = dockerbases.pull(base_images(text), pulls, logins, on_output, owner)
    (work / "config" / "storage.conf").write_text(dockerbases.storage_conf(bases))
    # /var/tmp: where buildah unpacks an oci-archive whatever TMPDIR says; the stacks have the directory.
    mounts = [Mount(source_dir, "/workspace", True), Mount(str(cache), "/cache", False),
              Mount(str(cache / "tmp"), "/var/tmp", False), Mount(str(work / "config"), "/config", True)]

    def run(argv, more_mounts, more_env):
        return executor.run(argv, env={**ENV, **more_env}, cwd="/workspace", mounts=[*mounts, *more_mounts],
                            timeout=timeout, on_line=on_output, cancel=cancel)

    dockerbases.load(bases, pulls, run)
    bud = [*BUILDAH, "bud", "--pull-never", "--layers", "--signature-policy", "/config/policy.json", "--network", "host",
           # RUN steps run under crun in buildah's user namespace, in this build container's cgroup (its caps).
           "--runtime", "crun", "--runtime-flag", "cgroup-manager=disabled", "--cgroupns", "host",
           # A new proc mount is refused where /proc has masked paths (this build container's): bind this one.
           "--volume", "/proc:/proc:rbind",
           "-f", f"/workspace/{FILE_NAME}", "-t", TAG, "/workspace"]
    proven = [d[len("sha256:"):] for d in images.proven_layers(owner)] if owner is not None else []
    code = run(["/bin/sh", "-c", SCRIPT, "sh", *bud], [Mount(str(pulls), "/bases", True)],
               {"PAAS_PROVEN": " ".join(proven)})
    if code in PHASES:
        raise BuildError(f"{PHASES[code]} failed (its output is above)")
    if code != 0:
        raise BuildError(f"the {FILE_NAME} build failed (exit status {code})")
    if bases_dir:
        dockerbases.forget_others(pulls, bases)
    from .procfile import read_procfile

    return ImageBuild(layout=cache / LAYOUT, process_types=read_procfile(source_dir) or {"web": ""})


def _prepare_cache(cache: Path) -> None:
    """The cache's directories, each a directory of its own; the layout without an earlier build's index."""
    # The cache is the app's: an earlier build may have left links where directories go. Nothing of
    # the app runs now (one build at a time), so a checked directory stays one until the steps start.
    for path in (cache, *(cache / sub for sub in ("run", "home", "tmp", "xdg", STORAGE, LAYOUT))):
        _real_dir(path)
    # Earlier builds' vfs storage: a copy of the base per step, never read again.
    old = cache / "storage"
    if old.is_symlink() or old.exists():
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)  # removes links, never follows them
        else:
            old.unlink()
    # The push adds its image to the layout's index: without the old one it lists this build's alone.
    with tenantfs.root_fd(str(cache / LAYOUT)) as layout:
        try:
            os.unlink("index.json", dir_fd=layout)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            shutil.rmtree("index.json", dir_fd=layout)


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


def read_dockerfile(source_dir: str) -> str:
    """The Dockerfile's text (read as the tenant's: no link, capped); BuildError when there is none."""
    raw = tenantfs.read_file(source_dir, FILE_NAME, MAX_BYTES)
    if raw is None:
        raise BuildError(f"no {FILE_NAME} at the top of the repository")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BuildError(f"{FILE_NAME} is not valid UTF-8 text") from None


def open_image(build: ImageBuild) -> Layout:
    """The built image, read as tenant data: each file of its layout opened without following a link.
    ImageError when it is not a readable image."""
    root = str(build.layout)

    def opener(name: str):
        try:
            opened = tenantfs.open_file(root, name, f"the built image's {name[:80]}")
        except tenantfs.TreeError as error:
            raise ImageError(str(error)) from None
        except ValueError:  # not a plain relative path: never one of the layout's own names
            raise ImageError(f"the built image names {name[:80]!r}, not a file of its layout") from None
        if opened is None:
            return None
        fd, info = opened
        return os.fdopen(fd, "rb"), info.st_size

    return Layout(opener)


def prune(build: ImageBuild, image: Layout) -> None:
    """Blobs of earlier builds that are no part of `image` leave the layout (it would grow with every push)."""
    keep = {name.rpartition("/")[2] for name in image.names()}
    try:
        with tenantfs.root_fd(str(build.layout)) as top:
            blobs = _subdir(top, "blobs")
            try:
                digests = _subdir(blobs, "sha256")
            finally:
                os.close(blobs)
            try:
                for name in os.listdir(digests):
                    if name not in keep:
                        _remove_at(digests, name)
            finally:
                os.close(digests)
    except (OSError, tenantfs.TreeError):
        pass  # what is left is removed by a later build's prune


def _subdir(dir_fd: int, name: str) -> int:
    return os.open(name, tenantfs.DIR_FLAGS, dir_fd=dir_fd)


def _remove_at(dir_fd: int, name: str) -> None:
    """Remove `name` in dir_fd, never following a link (unlinkat removes the link itself)."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except IsADirectoryError:
        shutil.rmtree(name, dir_fd=dir_fd)
