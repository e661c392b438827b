"""The image store: slugs (tar archives of /app) kept by sha256, unpacked once per host.

Layout under ``<data>/runtime/images``:

    blobs/<hex>.tar     the slug as built, named by its sha256
    meta/<hex>.json     {"digest", "stack", "process_types", "env", "size"}
    layers/<hex>.<uid>/app/
                        the unpacked slug (members relative to /app), owned by
                        the app's uid: a read-only lower layer shared by every
                        instance of that app (see "Layers and app uids" below)
    oci/<hex>.tar       an OCI/Docker image layer, uncompressed, named by its
                        diff_id (imageimport.py puts it)
    oci/<hex>/          that layer unpacked as an overlay lower directory
                        (layertar.py), root's, shared by every app whose image
                        has it: an OCI image's meta lists its layers and run
                        configuration (imageconfig.py) and has no blob
    proofs/<uid>/<hex>  empty: the app running as <uid> imported layer <hex>
                        with its bytes, checked against the digest, so a later
                        import of that app's may name the layer without
                        sending it again while the store holds it (never
                        another app's: naming a digest gives nothing)

Layers and app uids: every app runs as a host uid of its own (identity.py),
and an app may write over its /app files (the copy goes to the instance's
throwaway layer), so they must be that uid's. An image is therefore unpacked
once per host *and uid*: two apps that push the same slug get two layers,
each owned by its app; instances of one app share theirs. Layers of the old
form, ``layers/<hex>/`` (owned by uid 10000, before per-app uids), are still
collected by ``gc`` while instances started before the change use them.

Digests are written ``sha256:<hex>`` everywhere outside this module.
"""

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import config, identity
from .errors import ImageError

_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class Image:
    digest: str
    stack: str = "host"
    process_types: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    size: int = 0
    layers: list = field(default_factory=list)   # OCI images: diff_ids, bottom first
    config: dict = field(default_factory=dict)   # OCI images: imageconfig.normalize's run settings

    @property
    def is_oci(self) -> bool:
        return bool(self.config)


def _hex(digest: str) -> str:
    match = _DIGEST.match(digest or "")
    if not match:
        raise ImageError(f"image digest {digest!r} is not of the form sha256:<64 hex digits>")
    return match.group(1)


def _dirs() -> tuple[Path, Path, Path]:
    root = config.images_dir()
    dirs = (root / "blobs", root / "meta", root / "layers")
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


@contextmanager
def locked(name: str = ".lock"):
    """One writer at a time per host: unpacking and GC must not interleave (`name`: another lock of
    the store's, such as the Docker engine's images, dockerimages.py)."""
    root = config.images_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def put(slug: Path | str, *, stack: str = "host", process_types: dict | None = None,
        env: dict | None = None, packed: str | None = None) -> Image:
    """Store a slug tar with its metadata; returns the image (same content, same digest).

    packed: the sha256 (hex) the platform's own slug packer (buildpacks/slug.py) computed while it
    wrote `slug`, a file of the caller's: it is moved into the store (copied across filesystems)
    without being read or checked again. Any other slug (a download) is copied, hashed and checked.
    """
    blobs, metas, _ = _dirs()
    if packed is not None:
        hexd, size = _hex(f"sha256:{packed}"), os.path.getsize(slug)
        _move(Path(slug), blobs / f"{hexd}.tar")
    else:
        hexd, size = _store_copy(Path(slug), blobs)
    image = Image(digest=f"sha256:{hexd}", stack=stack, process_types=dict(process_types or {}),
                  env=dict(env or {}), size=size)
    meta_tmp = metas / f".{hexd}.{os.getpid()}.tmp"
    meta_tmp.write_text(json.dumps(asdict(image), sort_keys=True))
    os.replace(meta_tmp, metas / f"{hexd}.json")
    return image


def _store_copy(slug: Path, blobs: Path) -> tuple[str, int]:
    """Copy a slug into the store, hashing and checking it; (its sha256 hex, its size)."""
    sha = hashlib.sha256()
    tmp = blobs / f".{os.getpid()}.{os.urandom(4).hex()}.tmp"
    size = 0
    try:
        with open(slug, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                sha.update(chunk)
                dst.write(chunk)
                size += len(chunk)
        _check_tar(tmp)
        hexd = sha.hexdigest()
        os.replace(tmp, blobs / f"{hexd}.tar")
    finally:
        tmp.unlink(missing_ok=True)
    return hexd, size


def _move(src: Path, target: Path) -> None:
    """Put a file in place by renaming it; across filesystems by copying it first to a temporary name."""
    try:
        os.replace(src, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = target.with_name(f".{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _check_tar(path: Path) -> None:
    try:
        with tarfile.open(path) as tar:
            tar.getmembers()
    except (tarfile.TarError, EOFError) as exc:
        raise ImageError(f"slug is not a readable tar archive: {exc}") from None


def get(digest: str) -> Image:
    """The image's metadata; ImageError if this host does not have it."""
    hexd = _hex(digest)
    path = config.images_dir() / "meta" / f"{hexd}.json"
    try:
        return Image(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise ImageError(f"image {digest} is not on this host") from None


def exists(digest: str) -> bool:
    hexd = _hex(digest)
    root = config.images_dir()
    if not (root / "meta" / f"{hexd}.json").exists():
        return False
    if (root / "blobs" / f"{hexd}.tar").exists():
        return True
    image = get(digest)
    return image.is_oci and all(oci_layer(d).is_dir() for d in image.layers)


def blob_dir() -> Path:
    """Where slugs are kept (and downloads land before they are stored)."""
    return _dirs()[0]


def oci_dir() -> Path:
    path = config.images_dir() / "oci"
    path.mkdir(parents=True, exist_ok=True)
    return path


def oci_layer(diff_id: str) -> Path:
    """Where the unpacked layer `diff_id` is (or would be)."""
    return oci_dir() / _hex(diff_id)


def oci_layer_size(diff_id: str) -> int | None:
    """The size of the stored layer `diff_id`'s tar (its bytes as an image carries them); None when not stored."""
    try:
        return oci_layer(diff_id).with_suffix(".tar").stat().st_size
    except OSError:
        return None


def oci_layers(image: Image) -> tuple[Path, ...]:
    """An OCI image's unpacked layers, topmost first (overlay's order); ImageError if one is missing.

    A layer listed twice (empty layers of a build often are) is given once, where it is topmost:
    overlayfs refuses a directory twice, and the lower copy changes nothing the upper one does not
    redo (same files, same whiteouts).
    """
    paths = tuple(oci_layer(d) for d in dict.fromkeys(reversed(image.layers)))
    for path in paths:
        if not path.is_dir():
            raise ImageError(f"layer {path.name[:12]} of image {image.digest} is not on this host")
    return paths


def adopt_oci_layer(diff_id: str, tar: Path, unpacked: Path) -> bool:
    """Move a checked layer (its tar and its unpacked tree) into place; False: it was there already
    (the caller's copies are left to it)."""
    target = oci_layer(diff_id)
    with locked():
        if target.is_dir():
            return False
        os.replace(tar, target.with_suffix(".tar"))
        os.rename(unpacked, target)
    return True


def _proof(diff_id: str, uid: int) -> Path:
    _layer_name(_hex(diff_id), uid)  # an app uid, and a digest
    return config.images_dir() / "proofs" / str(uid) / _hex(diff_id)


def proven(diff_id: str, uid: int) -> bool:
    """Whether the app running as `uid` imported layer `diff_id` with its bytes and the store still holds it."""
    return _proof(diff_id, uid).is_file() and oci_layer(diff_id).is_dir()


def proven_layers(uid: int) -> list[str]:
    """Every layer the app running as `uid` has proven (see proven) and the store still holds."""
    root = config.images_dir() / "proofs" / str(uid)
    _layer_name("0" * 64, uid)  # an app uid
    if not root.is_dir():
        return []
    return sorted(f"sha256:{path.name}" for path in root.iterdir()
                  if _DIGEST.match(f"sha256:{path.name}") and oci_layer(f"sha256:{path.name}").is_dir())


def prove(diff_ids: list[str], uid: int) -> None:
    """Record that the app running as `uid` imported these layers with their bytes (each checked)."""
    for diff_id in diff_ids:
        path = _proof(diff_id, uid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def _sweep_proofs(held: set[str]) -> None:
    """Proofs of layers the store no longer holds go (a layer stored again is sent again)."""
    root = config.images_dir() / "proofs"
    if not root.is_dir():
        return
    for owner in root.iterdir():
        for path in owner.iterdir():
            if path.name not in held:
                path.unlink(missing_ok=True)


def put_oci(diff_ids: list[str], run: dict, *, process_types: dict | None = None) -> Image:
    """Record an OCI image whose layers are in place; its digest is that of its layers and run settings."""
    _, metas, _ = _dirs()
    canonical = json.dumps({"config": run, "layers": diff_ids}, sort_keys=True).encode()
    hexd = hashlib.sha256(canonical).hexdigest()
    size = sum((oci_dir() / f"{_hex(d)}.tar").stat().st_size for d in diff_ids)
    image = Image(digest=f"sha256:{hexd}", stack="", process_types=dict(process_types or {}), size=size,
                  layers=list(diff_ids), config=run)
    meta_tmp = metas / f".{hexd}.{os.getpid()}.tmp"
    meta_tmp.write_text(json.dumps(asdict(image), sort_keys=True))
    os.replace(meta_tmp, metas / f"{hexd}.json")
    return image


def drop_oci_layers(diff_ids: list[str]) -> None:
    """Remove these layers unless an image's meta names them (an import that failed half-way)."""
    with locked():
        used = _oci_in_use()
        for diff_id in diff_ids:
            if _hex(diff_id) not in used:
                _remove_oci(_hex(diff_id))


def _oci_in_use() -> set[str]:
    _, metas, _ = _dirs()
    used = set()
    for path in metas.glob("*.json"):
        used.update(_hex(d) for d in json.loads(path.read_text()).get("layers", []))
    return used


def _remove_oci(hexd: str) -> None:
    shutil.rmtree(oci_dir() / hexd, ignore_errors=True)
    (oci_dir() / f"{hexd}.tar").unlink(missing_ok=True)


def _layer_name(hexd: str, uid: int) -> str:
    if uid not in identity.APP_UIDS:
        raise ImageError(f"uid {uid} is not an app uid (PAAS_APP_UIDS): layers belong to apps")
    return f"{hexd}.{uid}"


def layer(digest: str, *, uid: int) -> Path:
    """The unpacked, read-only layer of an image for the app running as `uid` (unpacked on first use)."""
    hexd = _hex(digest)
    blobs, _, layers = _dirs()
    target = layers / _layer_name(hexd, uid)
    if target.is_dir():
        return target
    blob = blobs / f"{hexd}.tar"
    if not blob.exists():
        raise ImageError(f"image {digest} is not on this host")
    with locked():
        if target.is_dir():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{hexd[:12]}-", dir=layers))
        try:
            _unpack(blob, tmp, uid)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def unpacked(digest: str, *, uid: int) -> Path | None:
    """The image's layer for the app running as `uid` if this host has it unpacked (nothing is unpacked)."""
    target = _dirs()[2] / _layer_name(_hex(digest), uid)
    return target if target.is_dir() else None


def _unpack(blob: Path, dest: Path, uid: int) -> None:
    """Extract a slug so its files appear at /app, owned by the app's uid.

    Members are relative to /app (``./app.py``), as buildpacks/README.md says.
    """
    with tarfile.open(blob) as tar:
        root = dest / "app"
        root.mkdir(parents=True, exist_ok=True)
        try:
            # The "data" filter refuses absolute paths, links leaving the tree and device files.
            tar.extractall(root, filter="data")
        except tarfile.TarError as exc:
            raise ImageError(f"slug {blob.name} cannot be unpacked safely: {exc}") from None
    for dirpath, dirnames, filenames in os.walk(dest / "app"):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, uid, uid)


# What tarfile's "data" filter (used by _unpack) does to a regular file's mode.
_HIGH_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH


def unpacked_mode(mode: int) -> int:
    """The mode _unpack gives a regular file that had `mode` in the slug (the data filter's rule)."""
    mode = (mode & 0o7777 & ~_HIGH_BITS) | stat.S_IRUSR | stat.S_IWUSR
    if not mode & stat.S_IXUSR:
        mode &= ~(stat.S_IXGRP | stat.S_IXOTH)
    return mode


# What _unpack leaves directories at: the data filter does not keep theirs.
UNPACKED_DIR_MODE = 0o755


def adopt(digest: str, tree: Path, *, uid: int) -> bool:
    """Make a built /app tree the layer of the app running as `uid`, instead of unpacking its slug again.

    The build host has the tree the slug was packed from, so moving it into
    place (a rename) saves the unpack the first instance would wait for. The
    tree must already be what unpacking the slug makes (modes as unpacked_mode
    says, owned by `uid`, no link leaving it, nothing but files, directories
    and links): the build layer checks and makes it so
    (paas.buildpacks.slugtree.adopt, the one caller), since only it knows how
    to read a tree a build wrote. False (nothing moved) across filesystems;
    the layer is then unpacked on first use, as on every other host.
    """
    hexd = _hex(digest)
    blobs, _, layers = _dirs()
    name = _layer_name(hexd, uid)
    if not (blobs / f"{hexd}.tar").exists():
        raise ImageError(f"image {digest} is not on this host")
    with locked():
        if (layers / name).is_dir():
            return True
        tmp = Path(tempfile.mkdtemp(prefix=f".{hexd[:12]}-", dir=layers))
        try:
            os.rename(tree, tmp / "app")
        except OSError:  # another filesystem: unpacking stays the way
            tmp.rmdir()
            return False
        os.rename(tmp, layers / name)
    return True


def gc(in_use: set[str]) -> list[str]:
    """Remove the layers (of any uid), blob and metadata of each image not in `in_use`; returns the digests removed."""
    keep = {_hex(d) for d in in_use}
    blobs, metas, layers = _dirs()
    removed = []
    with locked():
        unpacked: dict[str, list[Path]] = {}
        for p in layers.iterdir():
            if not p.name.startswith("."):  # a dot: an unpack in progress
                unpacked.setdefault(p.name.partition(".")[0], []).append(p)
        present = {p.stem for p in metas.glob("*.json")} | set(unpacked)
        for hexd in sorted(present - keep):
            for path in unpacked.get(hexd, []):
                shutil.rmtree(path, ignore_errors=True)
            (blobs / f"{hexd}.tar").unlink(missing_ok=True)
            (metas / f"{hexd}.json").unlink(missing_ok=True)
            removed.append(f"sha256:{hexd}")
        _sweep_oci_layers()
    return removed


@contextmanager
def importing():
    """Held (shared) while an import adds layers no image names yet, so gc leaves them alone."""
    with open(oci_dir() / ".imports", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


def _sweep_oci_layers() -> None:
    """OCI layers go with the last image naming them, unless an import is under way (it would lose
    the layers it added before it names them); a dot: a layer being unpacked."""
    with open(oci_dir() / ".imports", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # the next gc collects them
        used = _oci_in_use()
        for path in oci_dir().iterdir():
            hexd = path.name.removesuffix(".tar")
            if not path.name.startswith(".") and hexd not in used:
                _remove_oci(hexd)
        _sweep_proofs(used)


def blob_path(digest: str) -> Path:
    """The stored slug of an image on this host; ImageError if it is not here."""
    if not exists(digest):
        raise ImageError(f"image {digest} is not in this store")
    return config.images_dir() / "blobs" / f"{_hex(digest)}.tar"


def all_digests() -> set[str]:
    _, metas, _ = _dirs()
    return {f"sha256:{p.stem}" for p in metas.glob("*.json")}


def stored_within(seconds: float) -> set[str]:
    """Images stored (or stored again) in the last ``seconds``.

    A build or an import writes its image before the transaction that names it commits: a
    collector keeps these whatever names them."""
    import time

    _, metas, _ = _dirs()
    since = time.time() - seconds
    fresh = set()
    for path in metas.glob("*.json"):
        try:
            if path.stat().st_mtime >= since:
                fresh.add(f"sha256:{path.stem}")
        except FileNotFoundError:
            continue
    return fresh
