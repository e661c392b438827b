"""The base images of an app's Dockerfile builds: pulled by the platform, kept per app, read-only to builds.

A ``FROM`` image is pulled by the platform (runtime/registry.py), never by the
build, into the app's bases directory (the platform's own, out of every build's
reach), as an OCI archive named by the digest of its manifest: a later build
fetches the registry's manifest alone while that archive is there. Its layers
go into the image store as the app's proven ones (imageimport.import_layers:
the platform has their bytes, checked), so a build never exports them again.

Each base is then loaded once into a buildah storage of its own in the same
directory (``<store>/``, tagged with the name the Dockerfile uses), by a step
of its own in which that storage alone is writable, and marked ready
(``<store>.ready``, written by the platform after the step). Builds mount the
directory read-only and name those storages as additional image stores, so
the base's files (tens of thousands) are no part of the build's cache, which
the executor walks before and after each step.

What a build no longer names (an older archive, another base's storage) is
removed after it.
"""

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from paas.runtime import imageimport, registry
from paas.runtime.errors import ImageError

from .errors import BuildError
from .executor import Mount

READY = ".ready"
POLICY = "/config/policy.json"
# Loads each base that is not ready into its storage (mounted writable at /stores/<store>), under its
# name (--storage-driver: without the build's additional stores, not loaded yet). Names, ids, archives and storages come in PAAS_LOAD (quadruples, checked by registry.parse and
# as digests: no shell syntax), never in the script's text.
LOAD = f"""set -eu
set -- $PAAS_LOAD
while [ $# -ge 4 ]; do
  b="buildah --storage-driver overlay --root /stores/$4 --runroot /cache/run-stores"
  $b inspect --type image "$2" >/dev/null 2>&1 || \\
    $b pull -q --signature-policy {POLICY} "oci-archive:/bases/$3" >/dev/null
  $b tag "$2" "$1"
  shift 4
done
"""


@dataclass(frozen=True)
class Base:
    name: str       # as the Dockerfile writes it
    image_id: str   # the digest of its config, hex: buildah's image id
    archive: str    # the pulled OCI archive, in the bases directory
    store: str      # the buildah storage holding it under `name`, in the bases directory

    def words(self) -> list[str]:
        return [self.name, self.image_id, self.archive, self.store]


def pull(names: list[str], directory: Path, logins, on_output, owner: int | None) -> list[Base]:
    """Each base pulled (or found pulled) into `directory`. With an `owner` (the app's uid), the base's
    layers go into the image store as the app's proven ones: the caller holds images.importing() until
    an image names them."""
    bases = []
    for name in names:
        on_output(f"-----> Pulling {name}")
        try:
            pulled = registry.pull_into(name, directory, logins)
        except ImageError as error:
            raise BuildError(str(error)) from None
        try:
            if owner is not None:
                imageimport.import_layers(pulled.archive, owner=owner)
        except ImageError as error:
            raise BuildError(f"the base image {name[:200]} cannot be used: {error}") from None
        image_id = pulled.image_id[len("sha256:"):]
        store = hashlib.sha256(f"{name}\n{image_id}".encode()).hexdigest()
        bases.append(Base(name, image_id, pulled.archive.name, store))
    return bases


def load(bases: list[Base], directory: Path, step) -> None:
    """Load the bases whose storage is not ready, in one step: `step(argv, mounts, env)` runs it in the
    build container (with the cache at /cache and the configuration at /config) and returns its status."""
    missing = [b for b in bases if not (directory / f"{b.store}{READY}").is_file()]
    if not missing:
        return
    for base in missing:
        # Whatever an interrupted load left is not trusted to be whole.
        shutil.rmtree(directory / base.store, ignore_errors=True)
        (directory / base.store).mkdir(mode=0o755)
    mounts = [Mount(str(directory), "/bases", True),
              *(Mount(str(directory / b.store), f"/stores/{b.store}", False) for b in missing)]
    code = step(["/bin/sh", "-c", LOAD], mounts, {"PAAS_LOAD": " ".join(w for b in missing for w in b.words())})
    if code != 0:
        raise BuildError(f"loading the base images failed (exit status {code})")
    for base in missing:
        (directory / f"{base.store}{READY}").touch()


def storage_conf(bases: list[Base]) -> str:
    """containers-storage.conf naming the bases' storages (at /bases, read-only) as additional image stores."""
    stores = ", ".join(f'"/bases/{b.store}"' for b in bases)
    return f'[storage]\ndriver = "overlay"\n\n[storage.options]\nadditionalimagestores = [{stores}]\n'


def forget_others(directory: Path, bases: list[Base]) -> None:
    """What the app's builds pulled and loaded that this build did not use goes (a tag moved on, a FROM changed)."""
    keep = {name for b in bases for name in (b.archive, b.store, f"{b.store}{READY}")}
    for path in directory.iterdir():
        if path.name in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
