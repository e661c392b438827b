"""The image store: content-addressed slugs, unpacked layers shared per app uid, GC, fetch by digest."""

import http.server
import io
import tarfile
import threading
import uuid
from functools import partial

import pytest

from paas.buildpacks import slugtree
from paas.runtime import config, identity, imagefetch, images
from paas.runtime.errors import ImageError

UID = identity.app_uid(7)


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
    layer = images.layer(image.digest, uid=UID)
    assert layer == images.layer(image.digest, uid=UID)
    assert (layer / "app" / "run.sh").stat().st_uid == UID
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
        images.layer("md5:1234", uid=UID)
    with pytest.raises(ImageError, match="not on this host"):
        images.layer("sha256:" + "0" * 64, uid=UID)


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
        image = imagefetch.fetch(digest, url, stack="host")
        assert image.digest == digest and images.exists(digest)
        with pytest.raises(ImageError, match="expected"):
            imagefetch.fetch("sha256:" + "1" * 64, url)
    finally:
        server.shutdown()
        images.gc(set())


def _built_tree(root, *, extra=None):
    """A compiled app directory as a build leaves it, and its slug packed as the build packs it."""
    import os

    from paas.buildpacks.slug import pack_slug

    app = root / "app"
    (app / "bin").mkdir(parents=True)
    (app / "bin" / "server").write_text("#!/bin/sh\necho ok\n")
    (app / "bin" / "server").chmod(0o4775)  # setuid and group-writable: an unpack clears both
    (app / "data.txt").write_text(uuid.uuid4().hex)
    (app / "data.txt").chmod(0o606)
    os.symlink("bin/server", app / "start")
    (app / "shared").mkdir(mode=0o777)
    pack_slug(str(app), str(root / "slug.tgz"), 1 << 30)
    if extra:
        # After packing: pack_slug itself refuses what extra adds (links out of the tree, FIFOs).
        extra(app)
    return app, root / "slug.tgz"


def _listing(top):
    import os

    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            link = os.readlink(path) if os.path.islink(path) else None
            found[os.path.relpath(path, top)] = (oct(info.st_mode), info.st_uid, info.st_gid, link)
    return found


def test_adopting_the_built_tree_gives_the_layer_an_unpack_would(tmp_path):
    app, slug_path = _built_tree(tmp_path)
    image = images.put(slug_path)
    reference = tmp_path / "unpacked"
    images._unpack(slug_path, reference, UID)
    try:
        assert slugtree.adopt(image.digest, app, uid=UID)
        assert not app.exists()  # moved, not copied
        layer = images.layer(image.digest, uid=UID)
        assert _listing(layer / "app") == _listing(reference / "app")
        assert images.adopt(image.digest, tmp_path / "missing", uid=UID)  # the layer is there already
    finally:
        images.gc(set())


@pytest.mark.parametrize("escape", ["absolute", "outside", "fifo"])
def test_a_tree_an_unpack_would_refuse_is_not_adopted(tmp_path, escape):
    import os

    def add(app):
        if escape == "absolute":
            os.symlink("/etc/passwd", app / "passwd")
        elif escape == "outside":
            os.symlink("../../secret", app / "bin" / "secret")
        else:
            os.mkfifo(app / "pipe")

    app, slug_path = _built_tree(tmp_path, extra=add)
    image = images.put(slug_path)
    try:
        assert not slugtree.adopt(image.digest, app, uid=UID)
        assert app.is_dir()
        assert not (config.images_dir() / "layers" / f"{image.digest[7:]}.{UID}").exists()
    finally:
        images.gc(set())


def test_two_apps_sharing_a_digest_get_a_layer_each_owned_by_their_uid(tmp_path):
    import os
    import stat

    path = tmp_path / "slug.tgz"
    with tarfile.open(path, "w:gz") as tar:
        data = f"#!/bin/sh\necho {uuid.uuid4().hex}\n".encode()
        info = tarfile.TarInfo("./bin/sh-root")
        info.size, info.mode, info.uid, info.gid = len(data), 0o6755, 0, 0  # setuid and setgid root
        tar.addfile(info, io.BytesIO(data))
    image = images.put(path)
    other = identity.app_uid(8)
    # A layer of the form before per-app uids, as an instance started then still uses.
    legacy = config.images_dir() / "layers" / image.digest[7:]
    (legacy / "app").mkdir(parents=True)
    try:
        mine, theirs = images.layer(image.digest, uid=UID), images.layer(image.digest, uid=other)
        assert mine != theirs
        for layer, uid in ((mine, UID), (theirs, other)):
            for dirpath, dirnames, filenames in os.walk(layer / "app"):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    info = os.lstat(name)
                    assert (info.st_uid, info.st_gid) == (uid, uid), name
                    assert not info.st_mode & (stat.S_ISUID | stat.S_ISGID)
        assert image.digest in images.gc(set())
        assert not mine.exists() and not theirs.exists() and not legacy.exists()
    finally:
        images.gc(set())


@pytest.mark.parametrize("uid", [0, 10000, identity.BUILD_UIDS.start, identity.ANONYMOUS_BUILD_UID + 5])
def test_a_layer_is_only_ever_owned_by_an_app_uid(slug, uid):
    path, _ = slug
    image = images.put(path)
    try:
        with pytest.raises(ImageError, match="not an app uid"):
            images.layer(image.digest, uid=uid)
    finally:
        images.gc(set())


def test_a_slug_the_platform_packed_is_moved_in_by_its_digest(tmp_path):
    """put(packed=): the packer's own file and digest, moved into the store unread; the layer it
    unpacks to is the slug's."""
    from paas.buildpacks.slug import pack_slug

    app = tmp_path / "app"
    app.mkdir()
    (app / "run.sh").write_text("#!/bin/sh\necho packed\n")
    size, digest = pack_slug(str(app), str(tmp_path / "slug.tgz"), 1 << 30, str(tmp_path / "segments"))
    image = images.put(tmp_path / "slug.tgz", stack="host", packed=digest)
    assert image.digest == f"sha256:{digest}" and image.size == size
    assert not (tmp_path / "slug.tgz").exists()
    assert images.blob_path(image.digest).stat().st_size == size
    assert (images.layer(image.digest, uid=UID) / "app" / "run.sh").read_text() == "#!/bin/sh\necho packed\n"
    with pytest.raises(ImageError):
        images.put(tmp_path / "other", packed="not-a-digest")
