"""An image archive (docker save or OCI layout) into the image store, whole or not at all.

Each layer is streamed out of the archive (gunzipped when it is gzip), counted
against the image's byte cap, hashed, and checked against the config's
``rootfs.diff_ids`` (and, in an OCI layout, its blob digest) before it is
unpacked (layertar.py) and moved into the store under its diff_id. A layer the
store has already is read and checked all the same (hashed, not written),
then shared: naming a digest is not enough to be given another app's layer.
Only a layer the importing app itself imported before with its bytes, and the
store still holds, is taken by its digest without being read again
(images.proven: a warm Dockerfile build names its unchanged layers so).
Whatever fails, the layers this import added and no image names are removed
again.
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
from .imagearchive import Archive, Layout, LayerRef

MAX_LAYERS = 127  # overlayfs stacks a limited number of lower directories
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def import_archive(source, *, process_types: dict | None = None, owner: int | None = None) -> images.Image:
    """Store the image of `source` (an archive's path or open binary file, or an imagearchive.Layout); returns
    it. ImageError (nothing stored) on a bad image.

    `process_types`: the app's Procfile, whose commands replace the image's CMD per type; an image
    without ENTRYPOINT or CMD needs one for every type. `owner`: the importing app's uid; the layers it
    imported before (images.proven) are not read again, and every layer of this image becomes one of those.
    """
    added: list[str] = []
    try:
        with images.importing(), (source if isinstance(source, Layout) else Archive(source)) as archive:
            document = archive.document
            run = imageconfig.normalize(document)
            diff_ids = imageconfig.diff_ids(document)
            _check_shape(run, diff_ids, archive.refs, process_types or {})
            _layers(archive, diff_ids, owner, added)
            extra = _workdir_layer(diff_ids, run["workdir"], added)
            image = images.put_oci(diff_ids + extra, run, process_types=process_types)
            if owner is not None:
                images.prove(image.layers, owner)
            return image
    except BaseException:
        images.drop_oci_layers(added)
        raise


def import_layers(source, *, owner: int) -> list[str]:
    """The layers of the image in archive `source` into the store, proven by the app running as `owner`:
    their diff_ids. For a base image the platform pulled for the app's Dockerfile build, so the build
    exports none of them again. No image is recorded: the caller holds images.importing() until an
    image names the layers (gc would take them). ImageError (nothing stored) on a bad image."""
    added: list[str] = []
    try:
        with images.importing(), Archive(source) as archive:
            diff_ids = imageconfig.diff_ids(archive.document)
            if len(diff_ids) != len(archive.refs) or len(diff_ids) > MAX_LAYERS:
                raise ImageError(f"the image's config lists {len(diff_ids)} layers and its manifest {len(archive.refs)} "
                                 f"(at most {MAX_LAYERS})")
            _layers(archive, diff_ids, owner, added)
            images.prove(diff_ids, owner)
            return diff_ids
    except BaseException:
        images.drop_oci_layers(added)
        raise


def _layers(archive, diff_ids: list[str], owner: int | None, added: list[str]) -> None:
    """Every layer of the image in the store, those this import stored appended to `added`."""
    budget = config.image_max_bytes()
    for ref, diff_id in zip(archive.refs, diff_ids):
        size, new = _layer(archive, ref, diff_id, budget, owner)
        budget -= size
        if new:
            added.append(diff_id)


def _layer(archive, ref: LayerRef, diff_id: str, budget: int, owner: int | None) -> tuple[int, bool]:
    """One layer of the image in the store: (its uncompressed size, whether this import added it)."""
    if owner is not None and images.proven(diff_id, owner):
        size = images.oci_layer(diff_id).with_suffix(".tar").stat().st_size
        if size > budget:
            raise ImageError(f"the image unpacks to more than {config.image_max_bytes()} bytes (PAAS_IMAGE_MAX_BYTES)")
        return size, False
    with archive.open(ref) as stream:
        return _put_layer(stream, ref, diff_id, budget)


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
    """Stream, check and unpack one layer into the store: (its uncompressed size, whether it is new here).
    A layer the store holds is only hashed and checked."""
    if images.oci_layer(diff_id).is_dir():
        return _checked(stream, ref, diff_id, budget, None), False
    store = images.oci_dir()
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=store))
    try:
        tar = work / "layer.tar"
        size = _checked(stream, ref, diff_id, budget, tar)
        unpacked = work / "root"
        unpacked.mkdir(mode=0o755)
        layertar.unpack(tar, unpacked, max_bytes=budget, max_members=config.image_max_files())
        return size, images.adopt_oci_layer(diff_id, tar, unpacked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _checked(stream, ref: LayerRef, diff_id: str, budget: int, dest: Path | None) -> int:
    """The layer's uncompressed size, its bytes written to `dest` (when given) and checked against its
    blob digest and `diff_id`."""
    raw = _Hashing(stream)
    size, sha = _copy_uncompressed(raw, dest, budget, ref.member)
    if ref.digest and f"sha256:{raw.sha.hexdigest()}" != ref.digest:
        raise ImageError(f"layer {ref.member[:80]!r} does not match its digest {ref.digest}")
    if sha != diff_id:
        raise ImageError(f"layer {ref.member[:80]!r} is not the layer the image's config names ({diff_id})")
    return size


def _copy_uncompressed(raw: _Hashing, dest: Path | None, budget: int, name: str) -> tuple[int, str]:
    """Read the layer's tar, gunzipped if need be, writing it to `dest` unless None: (bytes, sha256:<hex> of them)."""
    head = raw.stream.read(4)
    raw.sha.update(head)
    if head.startswith(ZSTD_MAGIC):
        raise ImageError(f"layer {name[:80]!r} is zstd-compressed: only plain and gzip layers are supported")
    source = _Prefixed(head, raw)
    if head.startswith(GZIP_MAGIC):
        source = gzip.GzipFile(fileobj=source, mode="rb")
    sha, size = hashlib.sha256(), 0
    out = None
    try:
        if dest is not None:
            out = os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > budget:
                raise ImageError(f"the image unpacks to more than {config.image_max_bytes()} bytes "
                                 "(PAAS_IMAGE_MAX_BYTES)")
            sha.update(chunk)
            if out is not None:
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageError(f"layer {name[:80]!r} cannot be read: {exc}") from None
    finally:
        if out is not None:
            out.close()
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
