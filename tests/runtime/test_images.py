"""The image store: content-addressed slugs, one shared unpacked layer, GC, fetch by digest."""

import http.server
import io
import tarfile
import threading
import uuid
from functools import partial

import pytest

from paas.runtime import images
from paas.runtime.errors import ImageError


def make_slug(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def slug(tmp_path):
    marker = uuid.uuid4().hex
    return make_slug(tmp_path / "slug.tgz", {"run.sh": f"#!/bin/sh\necho slug-{marker}\n"}), marker


def test_put_is_content_addressed_and_unpacks_once(slug, runner):
    path, marker = slug
    image = images.put(path, stack="host", process_types={"web": "./run.sh"}, env={"A": "1"})
    again = images.put(path, stack="host", process_types={"web": "./run.sh"})
    assert image.digest == again.digest and image.digest.startswith("sha256:")
    assert images.get(image.digest).process_types == {"web": "./run.sh"}
    layer = images.layer(image.digest)
    assert layer == images.layer(image.digest)
    assert (layer / "app" / "run.sh").stat().st_uid == images.APP_UID
    result = runner(["--network", "none", "--layer", str(layer), "--workdir", "/app", "--", "./run.sh"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"slug-{marker}"
    removed = images.gc({image.digest})
    assert image.digest not in removed
    assert image.digest in images.gc(set())
    assert not layer.exists()
    with pytest.raises(ImageError):
        images.get(image.digest)


def test_bad_slugs_and_digests_are_refused(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 100)
    with pytest.raises(ImageError, match="tar"):
        images.put(bad)
    with pytest.raises(ImageError, match="digest"):
        images.layer("md5:1234")
    with pytest.raises(ImageError, match="not on this host"):
        images.layer("sha256:" + "0" * 64)


def test_fetch_by_digest_from_the_control_plane(slug, tmp_path):
    path, _ = slug
    served = tmp_path / "served"
    served.mkdir()
    (served / "slug.tar").write_bytes(path.read_bytes())
    import hashlib
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    images.gc(images.all_digests() - {digest})
    images.gc(set())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slug.tar"
        image = images.fetch(digest, url, stack="host")
        assert image.digest == digest and images.exists(digest)
        with pytest.raises(ImageError, match="expected"):
            images.fetch("sha256:" + "1" * 64, url)
    finally:
        server.shutdown()
        images.gc(set())
