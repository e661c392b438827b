"""Fetching an image this host lacks from the control plane (the API's ``images/<digest>``).

A slug arrives as its tar and is stored as it is (images.put); an OCI image arrives as the
archive imageexport.py writes and is imported (imageimport.py), which gives the same digest.
"""

import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

from . import imageimport, images
from .errors import ImageError

FETCH_TIMEOUT = 120


def fetch(digest: str, url: str, *, stack: str = "host", process_types: dict | None = None,
          env: dict | None = None, token: str | None = None) -> images.Image:
    """Download an image from the control plane (`url` serves a slug's tar, or an OCI image as
    imageexport.py writes it) into this host's store, and verify its digest."""
    if images.exists(digest):
        return images.get(digest)
    expected = digest.removeprefix("sha256:")
    tmp = images.blob_dir() / f".fetch-{expected[:12]}-{os.getpid()}.tmp"
    try:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        if _is_oci_export(tmp):
            image = imageimport.import_archive(tmp, process_types=process_types)
        else:
            image = images.put(tmp, stack=stack, process_types=process_types, env=env)
    except OSError as exc:
        raise ImageError(f"fetching image {digest} from {url}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    if image.digest != digest:
        images.gc({d for d in images.all_digests() if d != image.digest})
        raise ImageError(f"image fetched from {url} has digest {image.digest}, expected {digest}")
    return image


def _is_oci_export(path: Path) -> bool:
    """An OCI image as the API serves it (imageexport.py writes oci-layout first), not a slug."""
    try:
        with tarfile.open(path) as tar:
            first = tar.next()
    except (tarfile.TarError, EOFError):
        return False
    return first is not None and first.name == "oci-layout"
