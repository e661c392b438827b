"""The build context of an engine build (enginebuild.py): tar bytes made from the checked-out tree.

The tree is the tenant's: it is walked without following a link (tenantfs.walk), a link goes in as a
link (the engine resolves it inside the context, never on the host), a FIFO, socket or device fails
the build, a file is read through a descriptor opened without following links and checked to be the
one walked. ``.dockerignore`` is honoured as the docker CLI reads it (never for the Dockerfile and
``.dockerignore`` themselves), ``.git`` is left out, and the whole is capped. The tar is produced
chunk by chunk as it is sent: a large file is never held in memory.
"""

import os
import stat
import tarfile

from . import dockerfile, tenantfs
from .errors import BuildError

CHUNK = 1 << 20


def context(source_dir: str, dockerfile_text: bytes, limit: int):
    """The build context as tar bytes, chunk by chunk: the Dockerfile given, then the tree (without
    .git and what .dockerignore excludes). TreeError or BuildError (raised while it is read) when the
    tree breaks a rule or passes `limit` bytes."""
    ignore = _ignore(source_dir)
    sent = 0

    def header(info: tarfile.TarInfo) -> bytes:
        nonlocal sent
        sent += info.size + 512
        if sent > limit:
            raise BuildError(f"the build context is over {limit} bytes (PAAS_MAX_PUSH_BYTES)")
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    info = tarfile.TarInfo(dockerfile.FILE_NAME)
    info.size, info.mode = len(dockerfile_text), 0o644
    yield header(info) + dockerfile_text + _padding(info.size)
    for entry in tenantfs.walk(source_dir, skip_top=frozenset({".git", dockerfile.FILE_NAME})):
        if ignore is not None and ignore.matches(entry.rel):
            entry.prune = entry.is_dir and not any(p.exclusion for p in ignore.patterns)
            continue
        info = tarfile.TarInfo(entry.rel)
        info.mode, info.mtime = stat.S_IMODE(entry.st.st_mode), int(entry.st.st_mtime)
        if entry.is_dir:
            info.type = tarfile.DIRTYPE
            yield header(info)
        elif entry.is_link:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(entry.name, dir_fd=entry.dir_fd)
            yield header(info)
        elif entry.is_regular:
            yield from _file(entry, info, header)
        else:
            raise tenantfs.TreeError(f"{tenantfs.shown(entry.rel)} is {tenantfs.kind(entry.st.st_mode)}: "
                                     "not something a build context holds")
    yield b"\0" * 1024


def _file(entry: tenantfs.Entry, info: tarfile.TarInfo, header):
    fd, st = tenantfs.open_regular(entry.dir_fd, entry.name, tenantfs.shown(entry.rel))
    with os.fdopen(fd, "rb") as f:
        info.size = st.st_size
        yield header(info)
        left = st.st_size
        while left:
            chunk = f.read(min(left, CHUNK))
            if not chunk:
                raise tenantfs.TreeError(f"{tenantfs.shown(entry.rel)} changed while it was being read")
            left -= len(chunk)
            yield chunk
    yield _padding(info.size)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % 512)


def _ignore(source_dir: str):
    """.dockerignore's patterns (as the docker CLI reads them), or None."""
    from docker.utils.build import PatternMatcher

    raw = tenantfs.read_file(source_dir, ".dockerignore", 64 << 10)
    if raw is None:
        return None
    patterns = [line.strip() for line in raw.decode("utf-8", "replace").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    # Never left out: the Dockerfile the build reads (sent first) and .dockerignore, as the CLI does.
    patterns = [p for p in patterns if p.lstrip("!").strip("/") not in (dockerfile.FILE_NAME, ".dockerignore")]
    return PatternMatcher(patterns) if patterns else None
