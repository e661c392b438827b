"""An image archive (docker save or OCI layout) into the image store, whole or not at all.

Each layer is streamed out of the archive (gunzipped when it is gzip), counted
against the image's byte cap, hashed, and checked against the config's
``rootfs.diff_ids`` (and, in an OCI layout, its blob digest) before it is
unpacked (layertar.py) and moved into the store under its diff_id. A layer the
store has already is read and checked all the same, then shared: naming a
digest is not enough to be given another app's layer. Whatever fails, the
layers this import added and no image names are removed again.
"""

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from . import config, imageconfig, images, layertar
from .errors import ImageError
from .imagearchive import Archive, LayerRef

MAX_LAYERS = 127  # overlayfs stacks a limited number of lower directories
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def import_archive(path, *, process_types: dict | None = None) -> images.Image:
    """Store the image of archive `path` (a path or an open binary file); returns it. ImageError (nothing stored) on a bad archive.

    `process_types`: the app's Procfile, whose commands replace the image's CMD per type; an image
    without ENTRYPOINT or CMD needs one for every type.
    """
    added: list[str] = []
    try:
        with images.importing(), Archive(path) as archive:
            document = archive.document
            run = imageconfig.normalize(document)
            diff_ids = imageconfig.diff_ids(document)
            _check_shape(run, diff_ids, archive.refs, process_types or {})
            budget = config.image_max_bytes()
            for ref, diff_id in zip(archive.refs, diff_ids):
                size, new = _put_layer(archive.open(ref), ref, diff_id, budget)
                budget -= size
                if new:
                    added.append(diff_id)
            extra = _workdir_layer(diff_ids, run["workdir"], added)
            return images.put_oci(diff_ids + extra, run, process_types=process_types)
    except BaseException:
        images.drop_oci_layers(added)
        raise


def _check_shape(run: dict, diff_ids: list[str], refs: list[LayerRef], process_types: dict) -> None:
    if len(diff_ids) != len(refs):
        raise ImageError(f"the image's config lists {len(diff_ids)} layers but its manifest {len(refs)}")
    if len(refs) > MAX_LAYERS:
        raise ImageError(f"the image has {len(refs)} layers; at most {MAX_LAYERS} are supported")
    if not imageconfig.has_command(run) and not all(process_types.get(t) for t in process_types or {"web": ""}):
        raise ImageError("the image has no command (no ENTRYPOINT or CMD) and no Procfile gives one")


class _Hashing:
    """A read-only stream that hashes what is read through it."""

    def __init__(self, stream):
        self.stream, self.sha = stream, hashlib.sha256()

    def read(self, size=-1):
        data = self.stream.read(size)
        self.sha.update(data)
        return data


def _workdir_layer(diff_ids: list[str], workdir: str, added: list[str]) -> list[str]:
    """A layer holding just the WORKDIR when the image lacks it (buildah makes it only when a later
    step writes there; Docker makes it at start), since the runner starts only in a directory that
    exists. [] when the image has it."""
    from .rootview import RootView

    layers = [images.oci_layer(d) for d in reversed(diff_ids)]
    if workdir == "/" or RootView(layers).is_dir(workdir):
        return []
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        parts = workdir.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            info = tarfile.TarInfo("/".join(parts[:depth]))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    data = buffer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    _, new = _put_layer(io.BytesIO(data), LayerRef("WORKDIR"), diff_id, len(data))
    if new:
        added.append(diff_id)
    return [diff_id]


def _put_layer(stream, ref: LayerRef, diff_id: str, budget: int) -> tuple[int, bool]:
    """Stream, check and unpack one layer into the store: (its uncompressed size, whether it is new here)."""
    store = images.oci_dir()
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=store))
    try:
        tar = work / "layer.tar"
        raw = _Hashing(stream)
        size, sha = _copy_uncompressed(raw, tar, budget, ref.member)
        if ref.digest and f"sha256:{raw.sha.hexdigest()}" != ref.digest:
            raise ImageError(f"layer {ref.member[:80]!r} does not match its digest {ref.digest}")
        if sha != diff_id:
            raise ImageError(f"layer {ref.member[:80]!r} is not the layer the image's config names ({diff_id})")
        if images.oci_layer(diff_id).is_dir():
            return size, False
        unpacked = work / "root"
        unpacked.mkdir(mode=0o755)
        layertar.unpack(tar, unpacked, max_bytes=budget, max_members=config.image_max_files())
        return size, images.adopt_oci_layer(diff_id, tar, unpacked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_uncompressed(raw: _Hashing, dest: Path, budget: int, name: str) -> tuple[int, str]:
    """Write the layer's tar, gunzipped if need be, to `dest`: (bytes, sha256:<hex> of them)."""
    head = raw.stream.read(4)
    raw.sha.update(head)
    if head.startswith(ZSTD_MAGIC):
        raise ImageError(f"layer {name[:80]!r} is zstd-compressed: only plain and gzip layers are supported")
    source = _Prefixed(head, raw)
    if head.startswith(GZIP_MAGIC):
        source = gzip.GzipFile(fileobj=source, mode="rb")
    sha, size = hashlib.sha256(), 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > budget:
                    raise ImageError(f"the image unpacks to more than {config.image_max_bytes()} bytes "
                                     "(PAAS_IMAGE_MAX_BYTES)")
                sha.update(chunk)
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageError(f"layer {name[:80]!r} cannot be read: {exc}") from None
    return size, f"sha256:{sha.hexdigest()}"


class _Prefixed:
    """`head` (already read) then the rest of `rest`."""

    def __init__(self, head: bytes, rest: _Hashing):
        self.head, self.rest = head, rest

    def read(self, size=-1):
        if self.head:
            data = self.head if size < 0 else self.head[:size]
            self.head = self.head[len(data):]
            return data
        return self.rest.read(size)
