"""`paas deploy:image --archive FILE`: an uploaded image archive becomes a build and a release, or nothing."""

import json
import tarfile
import uuid
from pathlib import Path

import pytest

from paas.platform.models import Build, Formation, Release
from paas.runtime import imageimport, images
from tests.platform.test_cli import logged_in_cli
from tests.runtime import imagearchives as ia


def archive_bytes(tmp_path, layers, **run) -> bytes:
    return ia.docker_save(tmp_path / f"{uuid.uuid4().hex}.tar", layers, **run).read_bytes()


def unique_layer():
    return ia.files({f"srv/{uuid.uuid4().hex}": b"hello"})


@pytest.fixture
def forget_images():
    before = images.all_digests()
    yield
    images.gc(before)  # what a test imported goes; the store's other images stay


def test_an_archive_becomes_a_build_and_a_release(as_alice, tmp_path, forget_images):
    as_alice.post("/api/apps", {"name": "imgdemo"})
    layer = unique_layer()
    response = as_alice.post("/api/apps/imgdemo/images", raw=archive_bytes(tmp_path, [layer], Cmd=["/srv/run"]))
    assert response.status_code == 201, response.json_body
    assert response.json_body["version"] == 2 and response.json_body["summary"].startswith("Deploy image ")
    build = Build.objects.get(app__name="imgdemo")
    assert (build.status, build.buildpack, build.process_types) == (Build.SUCCEEDED, "image", {"web": ""})
    assert images.get(build.slug_digest).layers == [ia.sha(layer)]
    assert Formation.objects.get(app__name="imgdemo").process_type == "web"


def spooled(settings) -> list:
    """Uploads left in the data directory (there should be none once a request is answered)."""
    return list((Path(settings.PAAS_DATA_DIR) / "work").glob("image-*.tar"))


@pytest.mark.parametrize("body, status, message", [
    (b"", 400, "send the archive"),
    (b"not an archive at all" * 50, 422, "not an image archive"),
    ("escape", 422, "not a path inside"),
    ("nocommand", 422, "no command"),
])
def test_bad_archives_are_answered_and_nothing_is_kept(as_alice, tmp_path, settings, body, status, message):
    as_alice.post("/api/apps", {"name": "imgbad"})
    good = unique_layer()
    if body == "escape":
        body = archive_bytes(tmp_path, [good, ia.files({"../../etc/cron.d/x": b"* * * * * root sh"})], Cmd=["/x"])
    elif body == "nocommand":
        body = archive_bytes(tmp_path, [good])
    before = images.all_digests()
    response = as_alice.post("/api/apps/imgbad/images", raw=body)
    assert response.status_code == status and message in response.json_body["message"], response.json_body
    assert not Build.objects.filter(app__name="imgbad").exists()
    assert Release.objects.filter(app__name="imgbad").count() == 1
    assert images.all_digests() == before and not images.oci_layer(ia.sha(good)).exists()
    assert not spooled(settings)


def test_size_cap_and_access(as_alice, as_bob, tmp_path, settings):
    as_alice.post("/api/apps", {"name": "imgcap"})
    body = archive_bytes(tmp_path, [unique_layer()], Cmd=["/x"])
    settings.PAAS_MAX_IMAGE_ARCHIVE_BYTES = len(body) - 1
    too_big = as_alice.post("/api/apps/imgcap/images", raw=body)
    assert too_big.status_code == 413 and "larger than" in too_big.json_body["message"]
    settings.PAAS_MAX_IMAGE_ARCHIVE_BYTES = len(body)
    assert as_bob.post("/api/apps/imgcap/images", raw=body).status_code == 403
    assert not Build.objects.filter(app__name="imgcap").exists()
    assert not spooled(settings)


def test_cli_deploys_an_archive_and_explains_a_missing_file(live_server, tmp_path, forget_images):
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "imgcli")
    archive = ia.oci_layout(tmp_path / "app.tar", [unique_layer()], Entrypoint=["/srv/run"])
    out = cli.run("deploy:image", "-a", "imgcli", "--archive", str(archive)).stdout
    assert "Released imgcli v2: Deploy image" in out
    missing = cli.run("deploy:image", "-a", "imgcli", "--archive", str(tmp_path / "nope.tar"), ok=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"junk" * 100)
    refused = cli.run("deploy:image", "-a", "imgcli", "--archive", str(junk), ok=False)
    assert refused.returncode == 1 and "not an image archive" in refused.stderr
    assert [r["version"] for r in cli.json("releases", "-a", "imgcli")] == [2, 1]
    cli.run("config:set", "-a", "imgcli", "GREETING=hi there")  # v3: the same image, a config var
    exported = tmp_path / "v3.tar"
    assert "docker load -i" in cli.run("releases:export", "-a", "imgcli", "v3", "-o", str(exported)).stdout
    with tarfile.open(exported) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        assert manifest["RepoTags"] == ["paas/imgcli:v3"]
        config = json.load(tar.extractfile(manifest["Config"]))["config"]
    assert "GREETING=hi there" in config["Env"] and config["Entrypoint"] == ["/srv/run"]
    assert imageimport.import_archive(exported).layers == images.get(
        Build.objects.get(app__name="imgcli").slug_digest).layers  # loadable: it is an image archive
    slug_app = cli.run("releases:export", "-a", "imgcli", "v1", "-o", str(tmp_path / "v1.tar"), ok=False)
    assert slug_app.returncode == 1 and "no build to export" in slug_app.stderr
    assert not (tmp_path / "v1.tar").exists() and not (tmp_path / "v1.tar.part").exists()


def test_hosts_fetch_an_image_release_as_an_oci_archive(as_alice, as_admin, tmp_path, forget_images):
    import io
    import tarfile

    as_alice.post("/api/apps", {"name": "imgfetch"})
    assert as_alice.post("/api/apps/imgfetch/images",
                         raw=archive_bytes(tmp_path, [unique_layer()], Cmd=["/x"])).status_code == 201
    digest = Build.objects.get(app__name="imgfetch").slug_digest
    assert as_alice.get(f"/api/images/{digest}").status_code == 403  # hosts only: images hold app code
    response = as_admin.client.get(f"/api/images/{digest}", **as_admin.headers)
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(b"".join(response.streaming_content))) as tar:
        assert tar.getnames()[:2] == ["oci-layout", "index.json"]


def test_deploy_an_image_from_a_registry(as_alice, allow_registry, forget_images):
    as_alice.post("/api/apps", {"name": "imgpull"})
    pull = lambda ref: as_alice.post("/api/apps/imgpull/images/pull", {"image": ref})  # noqa: E731
    response = pull(f"{allow_registry}/paas/probe:1")
    assert response.status_code == 201, response.json_body
    assert response.json_body["summary"] == f"Deploy {allow_registry}/paas/probe:1"
    image = images.get(Build.objects.get(app__name="imgpull").slug_digest)
    assert image.config["entrypoint"] == ["/usr/bin/probe"] and image.config["port"] == 7000
    for ref, message in ((f"{allow_registry}/paas/base:1", "no command"), (f"{allow_registry}/paas/nope:1", "404"),
                         ("10.0.0.1:5000/internal/db:1", "PAAS_REGISTRY_ALLOW"), ("x;y", "not an image reference"),
                         ("", "name the image")):
        refused = pull(ref)
        assert refused.status_code == 422 and message in refused.json_body["message"], (ref, refused.json_body)
    assert Release.objects.filter(app__name="imgpull").count() == 2
