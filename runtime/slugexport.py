"""A slug release as OCI image layers: its stack's root filesystem, then the slug under /app.

What `paas releases:export` writes for a buildpack release (imageexport.py puts the layers in the
archive), and what the docker backend imports a stack as (dockerimages.py). A stack that binds this
host's own directories (the ``host`` stack: its /usr is the machine's) has no root filesystem to give:
its releases are refused with that said. The slug is a tenant's data: its members are checked again
(no path out of /app, no device), given to the stacks' ``app`` user and the store's modes.
"""

import hashlib
import os
import posixpath
import tarfile
from pathlib import Path

from . import images, stacks, trust
from .errors import ImageError
from .launch import process_argv

APP_USER = f"{stacks.APP_UID}:{stacks.APP_UID}"  # the stacks' own "app" (stacks.PASSWD), never root
PORT = 5000  # the native runner's $PORT of a web process (agent.DEFAULT_PORT)


def exportable(stack: stacks.Stack) -> None:
    """ImageError unless the stack is a root filesystem of its own (the trust bundle aside)."""
    borrowed = [m.destination for m in stack.binds if m.destination.rstrip("/") != trust.CONTAINER_DIR]
    if borrowed:
        raise ImageError(f"stack {stack.name!r} runs on this host's own {', '.join(borrowed)}, which cannot leave "
                         "the platform: export a release built on a Debian stack (paas stack:set trixie)")


def stack_tar(stack: stacks.Stack, path: Path) -> None:
    """The stack's layers as one layer tar at `path` (an upper layer's path wins)."""
    seen: set[str] = set()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for layer in stack.layers:  # topmost first
            for member in sorted(_walk(layer)):
                if member not in seen:
                    seen.add(member)
                    tar.add(layer / member, member, recursive=False)


def _walk(root: Path):
    """Every path under `root`, relative, without following links (the stack is the platform's own)."""
    for directory, dirs, files in os.walk(root):
        base = Path(directory).relative_to(root)
        for name in dirs + files:
            yield str(base / name)


def slug_tar(image: images.Image, path: Path) -> None:
    """The slug's members under app/, as a layer tar at `path`."""
    uid = stacks.APP_UID
    with tarfile.open(images.blob_path(image.digest)) as slug, tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as out:
        top = tarfile.TarInfo("app")
        top.type, top.mode, top.uid, top.gid = tarfile.DIRTYPE, images.UNPACKED_DIR_MODE, uid, uid
        out.addfile(top)
        for member in slug:
            info = _member(member)
            if info is not None:
                out.addfile(info, slug.extractfile(member) if member.isreg() else None)


def _member(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = _inside(member.name)
    if name is None:
        return None  # the slug's root itself
    info = tarfile.TarInfo(f"app/{name}")
    info.uid = info.gid = stacks.APP_UID
    info.mtime = member.mtime
    if member.isreg():
        info.size, info.mode = member.size, images.unpacked_mode(member.mode)
    elif member.isdir():
        info.type, info.mode = tarfile.DIRTYPE, images.UNPACKED_DIR_MODE
    elif member.issym():
        info.type, info.linkname = tarfile.SYMTYPE, member.linkname
    elif member.islnk() and _inside(member.linkname):
        info.type, info.linkname = tarfile.LNKTYPE, f"app/{_inside(member.linkname)}"
    else:
        raise ImageError(f"slug member {member.name[:80]!r} is neither a file, a directory nor a link inside /app")
    return info


def _inside(name: str) -> str | None:
    """A member's path relative to /app; ImageError if it leads out; None for the root."""
    path = posixpath.normpath(name)
    if path.startswith("/") or path == ".." or path.startswith("../"):
        raise ImageError(f"slug member {name[:80]!r} is not a path inside /app")
    return None if path == "." else path


def layers(image: images.Image, work: Path) -> list[tuple[str, Path]]:
    """(diff_id, layer tar) of the stack, then of the slug, written under `work`."""
    stack = stacks.get(image.stack or "host")
    exportable(stack)
    stack_tar(stack, work / "stack.tar")
    slug_tar(image, work / "slug.tar")
    return [(_diff_id(work / "stack.tar"), work / "stack.tar"), (_diff_id(work / "slug.tar"), work / "slug.tar")]


def run_settings(image: images.Image, command: str) -> dict:
    """The run settings (imageconfig.normalize's shape) of a slug started as a native web instance is:
    HOME and the working directory /app, $PORT 5000 unless the config says, the Procfile command."""
    command = command or image.process_types.get("web", "")
    if not command:
        raise ImageError(f"image {image.digest[:19]} has no web process to export")
    return {"env": {"HOME": "/app", "PORT": str(PORT), **image.env}, "workdir": "/app", "entrypoint": [],
            "cmd": process_argv(command), "user": APP_USER, "port": PORT}


def _diff_id(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
