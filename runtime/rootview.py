"""Looking at a container's root filesystem from the host, before it exists.

A rootfs is read-only layers (topmost first) plus bind mounts. The validator uses
this view to find the command, the working directory and the user without
mounting anything, and to refuse paths that climb out of the rootfs through
``..`` or a relative symlink.
"""

import os
import posixpath
import stat
from pathlib import Path

from .errors import SpecError

MAX_TEXT_BYTES = 1 << 20

# The user of a plain `paas-runner run` (the operator's CLI). The platform's tenants never run as it:
# instances and builds get a host uid of their app's own (identity.py), named in a generated /etc/passwd.
DEFAULT_USER, DEFAULT_UID = "app", 10000
MAX_SYMLINKS = 40  # the kernel's own limit on links followed in one lookup


class RootView:
    """Read-only lookups of container paths in layers and binds."""

    def __init__(self, layers, binds=()):
        self.layers = [Path(p) for p in layers]
        # Longest destination first so /usr/local beats /usr.
        self.binds = sorted(((m.destination.rstrip("/") or "/", Path(m.source)) for m in binds),
                            key=lambda b: len(b[0]), reverse=True)

    def host_path(self, path: str) -> Path | None:
        """The host file behind a container path (no symlinks followed), or None."""
        for dst, src in self.binds:
            if path == dst or path.startswith(dst + "/"):
                candidate = src / path[len(dst):].lstrip("/")
                return candidate if os.path.lexists(candidate) else None
        rel = path.lstrip("/")
        for layer in self.layers:
            candidate = layer / rel
            if os.path.lexists(candidate):
                return candidate
        return None

    def resolve(self, path: str) -> str:
        """Follow symlinks inside the rootfs; raise SpecError if the path escapes it.

        Absolute link targets are re-rooted (that is what the kernel does after
        pivot_root); a ``..`` above the root is an escape and refused.
        """
        parts = [c for c in path.split("/") if c not in ("", ".")]
        out: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if not out:
                    raise SpecError(f"path {path} escapes the rootfs")
                out.pop()
                continue
            current = "/" + "/".join(out + [name])
            host = self.host_path(current)
            if host is not None and host.is_symlink():
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise SpecError(f"path {path} has too many levels of symlinks")
                target = os.readlink(host)
                if target.startswith("/"):
                    out = []
                elif _climbs_out(len(out), target):
                    raise SpecError(f"symlink {current} -> {target} escapes the rootfs")
                parts = [c for c in target.split("/") if c not in ("", ".")] + parts
                continue
            out.append(name)
        return "/" + "/".join(out)

    def is_dir(self, path: str) -> bool:
        host = self.host_path(self.resolve(path))
        return host is not None and host.is_dir()

    def find_command(self, command: str, search_path: str, cwd: str = "/") -> str | None:
        """Container path of an executable, searched in PATH like execvp, or None."""
        candidates = [posixpath.join(cwd, command)] if "/" in command else [
            posixpath.join(d or "/", command) for d in search_path.split(":")]
        for candidate in candidates:
            if not candidate.startswith("/"):
                continue
            resolved = self.resolve(candidate)
            host = self.host_path(resolved)
            if host is None:
                continue
            mode = host.stat().st_mode
            if stat.S_ISREG(mode) and mode & 0o111:
                return resolved
        return None

    def read_text(self, path: str, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
        """A small text file of the rootfs (/etc/passwd); SpecError when it is larger than `max_bytes`:
        an image's layers are a tenant's, and this is read by the agent at every start."""
        host = self.host_path(self.resolve(path))
        if host is None or not host.is_file():
            return None
        with open(host, "rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SpecError(f"{path} in the image is larger than {max_bytes} bytes")
        return data.decode(errors="replace")


def _climbs_out(depth: int, target: str) -> bool:
    """True if a relative link target, followed from a directory `depth` deep, leaves the root."""
    for name in target.split("/"):
        if name == "..":
            depth -= 1
            if depth < 0:
                return True
        elif name not in ("", "."):
            depth += 1
    return False


def resolve_user(view: RootView, user: str) -> tuple[int, int]:
    """uid and gid for a user name from the rootfs' /etc/passwd, or a numeric uid[:gid]."""
    name, _, group = user.partition(":")
    if name.isdigit():
        uid = int(name)
        return uid, int(group) if group.isdigit() else uid
    passwd = view.read_text("/etc/passwd") or ""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name:
            return int(fields[2]), int(group) if group.isdigit() else int(fields[3])
    if name == DEFAULT_USER:
        # A plain rootfs without the platform's user still runs unprivileged.
        return DEFAULT_UID, DEFAULT_UID
    raise SpecError(f"user {name!r} is not in the rootfs' /etc/passwd")
