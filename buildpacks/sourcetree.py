"""Checks on the pushed source tree and the copy the build works on."""

import os
import shutil

from . import tenantfs
from .errors import BuildError

# Never copied into the build: the repository's own metadata.
IGNORED = {".git"}


def check_source(root: str, max_bytes: int) -> None:
    """Reject trees with escaping symlinks or more bytes than a slug may hold."""
    total = 0
    for entry in tenantfs.walk(root, skip_top=frozenset(IGNORED)):
        if entry.is_link:
            _check_link(root, entry)
        elif not entry.is_dir:
            total += entry.st.st_size
    if total > max_bytes:
        raise BuildError(
            f"the pushed source is {human_size(total)}, over the slug size limit of {human_size(max_bytes)}"
        )


def copy_source(src: str, dst: str) -> None:
    """Copy src to dst, keeping symlinks as links and leaving out IGNORED names."""
    try:
        shutil.copytree(src, dst, symlinks=True, ignore=lambda d, names: [n for n in names if n in IGNORED])
    except (OSError, shutil.Error) as exc:
        raise BuildError(f"could not copy the source into the build dir: {_first(exc)}") from None


def _first(exc: Exception) -> str:
    # shutil.Error carries a list of (src, dst, reason); one is enough here.
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        return str(exc.args[0][0][2])
    return str(exc)


def human_size(n: int) -> str:
    """1536 -> '1.5 KB' (binary units, as du -h)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _check_link(root: str, entry: tenantfs.Entry) -> None:
    # A link is judged by where it points inside the tree, as the build
    # container would see it: an absolute target or one that climbs out of
    # the tree (by its own ".." or through other links) could read files of
    # the build host. The rule is tenantfs.link_escapes, the one slugs follow.
    target = os.readlink(entry.name, dir_fd=entry.dir_fd)
    if tenantfs.link_escapes(root, entry.rel, target):
        why = " (absolute target)" if os.path.isabs(target) else ""
        raise BuildError(f"symlink {entry.rel} -> {target} points outside the repository{why}")
