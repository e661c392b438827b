"""Image archives (docker save, OCI layout) into the image store, and instances of them on the runner.

Every archive is made here with tarfile (imagearchives.py); the one binary in them is a static probe
compiled once, so an image needs nothing of the host.
"""

import dataclasses
import gzip
import io
import os
import stat
import subprocess
import tarfile
import uuid

import pytest

from paas.runtime import agent, config, container, identity, imageconfig, imagefetch, images, imageimport
from paas.runtime.errors import ImageError, SpecError
from paas.runtime.reconcile import Desired

from . import imagearchives as ia

UID = identity.app_uid(11)


@pytest.fixture(scope="session")
def probe():
    return ia.probe_binary()


def unique_layer():
    """A layer nobody else has (so what a test stores is its own)."""
    return ia.files({f"marker/{uuid.uuid4().hex}": b"x"})


def stored(diff_id: str) -> bool:
    return images.oci_layer(diff_id).exists() or images.oci_layer(diff_id).with_suffix(".tar").exists()


@pytest.fixture
def cleanup():
    digests = []
    yield digests.append
    images.gc(images.all_digests() - set(digests))  # every other image of the store stays


def test_docker_save_and_oci_share_base_layers(tmp_path, cleanup):
    base, app_a, app_b = unique_layer(), unique_layer(), unique_layer()
    a = imageimport.import_archive(ia.docker_save(tmp_path / "a.tar", [base, app_a], Cmd=["/a"]))
    b = imageimport.import_archive(ia.oci_layout(tmp_path / "b.tar", [base, app_b], Entrypoint=["/b"],
                                                 ExposedPorts={"8080/tcp": {}}))
    cleanup(a.digest), cleanup(b.digest)
    assert a.layers[0] == b.layers[0] == ia.sha(base)
    assert images.oci_layers(a)[-1] == images.oci_layers(b)[-1]  # one unpacked base for both apps
    assert images.exists(a.digest) and images.get(b.digest).config["port"] == 8080
    again = imageimport.import_archive(ia.docker_save(tmp_path / "a2.tar", [base, app_a], Cmd=["/a"]))
    assert again.digest == a.digest
    images.gc({b.digest})
    assert not stored(ia.sha(app_a)) and stored(ia.sha(base)) and stored(ia.sha(app_b))


def test_an_app_names_its_own_stored_layers_without_sending_them_never_anothers(tmp_path, cleanup):
    """A warm Dockerfile build's import: the layers the app itself imported (bytes checked) and the store
    holds are taken by digest; the same names from another app, or from an import of no app, get nothing."""
    base, top = unique_layer(), unique_layer()
    first = imageimport.import_archive(ia.oci_layout(tmp_path / "first.tar", [base, top], Cmd=["/x"]), owner=UID)
    cleanup(first.digest)
    assert images.proven(ia.sha(base), UID) and not images.proven(ia.sha(base), identity.app_uid(12))
    later = ia.oci_dir(tmp_path / "later", [base, unique_layer()], omit=[base], Cmd=["/x"])
    for owner in (None, identity.app_uid(12)):
        with pytest.raises(ImageError, match="does not hold it"):
            imageimport.import_archive(ia.read_dir(later), owner=owner)
    again = imageimport.import_archive(ia.read_dir(later), owner=UID)
    cleanup(again.digest)
    assert again.layers[0] == first.layers[0] and images.oci_layers(again)[-1] == images.oci_layers(first)[-1]
    # Once the store lets the layer go, the app must send it again: the proof went with it.
    images.gc(images.all_digests() - {first.digest, again.digest})
    assert not stored(ia.sha(base)) and not images.proven(ia.sha(base), UID)
    with pytest.raises(ImageError, match="does not hold it"):
        imageimport.import_archive(ia.read_dir(later), owner=UID)


def test_whiteouts_and_opaque_directories_hide_lower_files(tmp_path, probe, cleanup, cid):
    base = ia.layer(ia.member("bin/probe", probe, mode=0o755), ia.member("data/a", b"a"), ia.member("data/b", b"b"),
                    ia.member("cache/old", b"old"), ia.member("srv/", kind=tarfile.DIRTYPE))
    upper = ia.layer(ia.member("data/.wh.a"), ia.member("cache/.wh..wh..opq"), ia.member("cache/new", b"new"))
    image = imageimport.import_archive(ia.docker_save(
        tmp_path / "img.tar", [base, upper], Entrypoint=["/bin/probe"], Cmd=["one", "two"],
        Env=["GREETING=hi", "PATH=/bin"], WorkingDir="/srv", User="root", ExposedPorts={"7000/tcp": {}}))
    cleanup(image.digest)
    top = images.oci_layers(image)[0]
    whiteout = os.lstat(top / "data" / "a")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert os.getxattr(top / "cache", "trusted.overlay.opaque") == b"y"
    lines = run_image(image, cid(), "", ["/data/a", "/data/b", "/cache/old", "/cache/new"])
    again = imageimport.import_archive(ia.oci_layout(  # the base listed twice: each layer once, where topmost
        tmp_path / "twice.tar", [base, upper, base], Entrypoint=["/bin/probe"], Cmd=["one", "two"],
        WorkingDir="/srv"))
    cleanup(again.digest)
    assert images.oci_layers(again) == (images.oci_layers(image)[1], top)
    assert "exists /data/a=1" in run_image(again, cid(), "", ["/data/a"])
    assert lines[:2] == ["arg=one", "arg=two"]
    assert {"cwd=/srv", f"uid={UID}", f"gid={UID}", "env PORT=7000", "env GREETING=hi", "env HOME=/srv"} <= set(lines)
    assert {"exists /data/a=0", "exists /data/b=1", "exists /cache/old=0", "exists /cache/new=1"} <= set(lines)


def run_image(image, name, command, paths, env=()):
    d = Desired(name=name, app="imgapp", release="v1", process="web.1", command=command, image=image.digest,
                app_id=11, env=tuple(env))
    spec = agent.spec_for(d)
    spec = dataclasses.replace(spec, network="none", command=(*spec.command, "--", *paths))
    out = config.runtime_dir() / f"{name}.out"
    try:
        with open(out, "w") as stdout:
            outcome = container.run(spec, stdout=stdout, stderr=subprocess.STDOUT)
        assert outcome.exit_code == 0, out.read_text()
        return out.read_text().splitlines()
    finally:
        out.unlink(missing_ok=True)


def test_procfile_command_replaces_cmd_and_config_port_wins():
    run = imageconfig.normalize({"config": {"Entrypoint": ["/e"], "Cmd": ["c"], "ExposedPorts": {"53/udp": {},
                                                                                                "9000/tcp": {}}}})
    assert imageconfig.argv(run, "") == ["/e", "c"]
    assert imageconfig.argv(run, "serve --fast") == ["/e", "/bin/sh", "-c", "serve --fast"]
    assert run["port"] == 9000
    with pytest.raises(ImageError, match="no command"):
        imageconfig.argv(imageconfig.normalize({"config": {}}), "")


def hostile(name, data=b"", **kw):
    return ia.layer(ia.member(name, data, **kw))


@pytest.mark.parametrize("bad_layer, message", [
    (hostile("../escape", b"x"), "not a path inside"),
    (hostile("/../../etc/x", b"x"), "not a path inside"),
    (ia.layer(ia.member("evil", kind=tarfile.SYMTYPE, linkname="/"), ia.member("evil/tmp/planted", b"x")),
     "leads out"),
    (ia.layer(ia.member("up", kind=tarfile.SYMTYPE, linkname="../../.."), ia.member("up/planted", b"x")), "leads out"),
    (hostile("shadow", kind=tarfile.LNKTYPE, linkname="../../../../etc/shadow"), "not a path inside"),
    (hostile("dev/sda", kind=tarfile.BLKTYPE, devmajor=8), "device node"),
    (hostile("dev/mem", kind=tarfile.CHRTYPE, devmajor=1), "device node"),
    (hostile("fifo", kind=tarfile.FIFOTYPE), "device node"),
    (ia.layer(ia.member("f", b"x"), ia.member(".wh.f")), "both has and hides"),
    (hostile("orphan", kind=tarfile.LNKTYPE, linkname="in/another/layer"), "cannot be unpacked"),
])
def test_hostile_layers_are_refused_and_nothing_is_stored(tmp_path, bad_layer, message):
    good = unique_layer()
    archive = ia.docker_save(tmp_path / "bad.tar", [good, bad_layer], Cmd=["/x"])
    before = images.all_digests()
    with pytest.raises(ImageError, match=message):
        imageimport.import_archive(archive)
    assert not stored(ia.sha(good)) and not stored(ia.sha(bad_layer))
    assert images.all_digests() == before
    assert not [p for p in images.oci_dir().iterdir() if p.name.startswith(".import-")]


def test_hard_links_inside_setuid_bits_and_owners_are_made_safe(tmp_path, cleanup):
    layer = ia.layer(ia.member("bin/su", b"#!", mode=0o4755, uid=1234),
                     ia.member("bin/su2", kind=tarfile.LNKTYPE, linkname="bin/su", mode=0o6755),
                     ia.member("etc/localtime", kind=tarfile.SYMTYPE, linkname="/usr/share/zoneinfo/UTC"),
                     ia.member("tmp/", kind=tarfile.DIRTYPE, mode=0o1777))
    image = imageimport.import_archive(ia.docker_save(tmp_path / "img.tar", [layer], Cmd=["/bin/su"]))
    cleanup(image.digest)
    root = images.oci_layers(image)[0]
    info = os.stat(root / "bin" / "su")
    assert info.st_mode & 0o7777 == 0o755 and info.st_uid == 0 and info.st_nlink == 2
    assert os.readlink(root / "etc" / "localtime") == "/usr/share/zoneinfo/UTC"  # kept, never followed here
    assert os.stat(root / "tmp").st_mode & 0o7777 == 0o1777


def test_caps_on_bytes_and_members(tmp_path, monkeypatch):
    big = ia.files({"big": b"x" * 300_000})
    monkeypatch.setenv("PAAS_IMAGE_MAX_BYTES", "100000")
    with pytest.raises(ImageError, match="PAAS_IMAGE_MAX_BYTES"):
        imageimport.import_archive(ia.oci_layout(tmp_path / "big.tar", [big], Cmd=["/x"]))
    monkeypatch.setenv("PAAS_IMAGE_MAX_BYTES", "10000000")
    monkeypatch.setenv("PAAS_IMAGE_MAX_FILES", "5")
    many = ia.files({f"f{i}": b"" for i in range(6)})
    with pytest.raises(ImageError, match="more than 5 members"):
        imageimport.import_archive(ia.docker_save(tmp_path / "many.tar", [many], Cmd=["/x"]))
    assert not stored(ia.sha(big)) and not stored(ia.sha(many))


def bad_archives(tmp_path):
    layer = unique_layer()
    not_tar = tmp_path / "junk.tar"
    not_tar.write_bytes(b"GIF89a" + os.urandom(2000))
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w") as tar:
        tar.addfile(tarfile.TarInfo("hello"))
    wrong = ia.config_document([unique_layer()], Cmd=["/x"])
    zstd_layer = b"\x28\xb5\x2f\xfd" + os.urandom(64)
    bad_json = ia.docker_save(tmp_path / "json.tar", [layer], document={"config": {"Cmd": "not a list"},
                                                                       "rootfs": {"diff_ids": [ia.sha(layer)]}})
    deep = tmp_path / "deep.tar"
    with tarfile.open(deep, "w") as tar:
        data = b"[" * 200_000
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return [
        (not_tar, "not an image archive"),
        (deep, "not valid JSON"),
        (empty, "neither manifest.json"),
        (ia.docker_save(tmp_path / "wrong.tar", [layer], document=wrong), "not the layer the image's config names"),
        (ia.docker_save(tmp_path / "zstd.tar", [zstd_layer], Cmd=["/x"]), "zstd"),
        (ia.docker_save(tmp_path / "nocmd.tar", [layer]), "no command"),
        (bad_json, "Cmd must be a list"),
        (ia.docker_save(tmp_path / "port.tar", [layer], Cmd=["/x"], ExposedPorts={"http": {}}), "exposed port"),
        (ia.docker_save(tmp_path / "wd.tar", [layer], Cmd=["/x"], WorkingDir="srv/../.."), "WorkingDir"),
    ]


def test_bad_archives_get_clear_errors(tmp_path):
    before = images.all_digests()
    for archive, message in bad_archives(tmp_path):
        with pytest.raises(ImageError, match=message):
            imageimport.import_archive(archive)
    assert images.all_digests() == before


def test_an_oci_blob_that_does_not_match_its_digest_is_refused(tmp_path):
    archive = ia.oci_layout(tmp_path / "oci.tar", [unique_layer()], Cmd=["/x"])
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read()
            if info.name.startswith("blobs/") and data[:2] == b"\x1f\x8b":
                data = gzip.compress(gzip.decompress(data), mtime=1)  # same layer, other bytes
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageError, match="does not match its digest"):
        imageimport.import_archive(tampered)


def test_another_host_fetches_an_image_as_an_archive_with_the_same_digest(tmp_path, cleanup):
    import http.server
    import threading
    from functools import partial

    from paas.runtime import imageexport

    image = imageimport.import_archive(ia.oci_layout(tmp_path / "img.tar", [unique_layer(), unique_layer()],
                                                     Entrypoint=["/e"], Env=["A=1"], WorkingDir="/srv/app",
                                                     ExposedPorts={"8080/tcp": {}}))
    cleanup(image.digest)
    served = tmp_path / "served"
    served.mkdir()
    with open(served / "image.tar", "wb") as out:
        imageexport.write(image.digest, out)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with pytest.MonkeyPatch.context() as other_host:
        other_host.setenv("PAAS_RUNTIME_DIR", str(tmp_path / "other-host"))  # an empty store
        try:
            fetched = imagefetch.fetch(image.digest, f"http://127.0.0.1:{server.server_address[1]}/image.tar")
        finally:
            server.shutdown()
        assert fetched.digest == image.digest and fetched.config == image.config
        assert len(images.oci_layers(fetched)) == 3  # and the WORKDIR /srv/app the image lacked, as a layer
        assert str(images.oci_dir()).startswith(str(tmp_path / "other-host"))


def test_an_image_cannot_make_the_agent_read_a_huge_passwd(tmp_path, cleanup):
    big = ia.layer(ia.member("etc/passwd", b"x:x:1:1::/:/bin/sh\n" * 60_000), ia.member("bin/app", b"", mode=0o755))
    image = imageimport.import_archive(ia.docker_save(tmp_path / "img.tar", [big], Cmd=["/bin/app"]))
    cleanup(image.digest)
    d = Desired(name=f"big{uuid.uuid4().hex[:8]}", app="imgapp", release="v1", process="web.1", command="",
                image=image.digest, app_id=11)
    with pytest.raises(SpecError, match="larger than"):
        container.create(dataclasses.replace(agent.spec_for(d), network="none"))
