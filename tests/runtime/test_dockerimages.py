"""The docker backend's engine images (runtime/dockerimages.py): what no instance here wants is collected."""

import uuid

from paas.runtime import dockerimages, images, imageimport
from paas.runtime.reconcile import Desired
from tests.runtime import imagearchives as ia


def test_unused_tags_are_the_platforms_that_nothing_keeps_or_runs():
    engine = [{"Id": "sha256:a", "RepoTags": ["paas/image:a", "other/app:1"]},
              {"Id": "sha256:b", "RepoTags": ["paas/image:b"]},
              {"Id": "sha256:c", "RepoTags": ["paas/stack:host-c"]},
              {"Id": "sha256:d", "RepoTags": ["paas/image:d"]},
              {"Id": "sha256:e", "RepoTags": None}]
    containers = [{"Image": "paas/image:b", "ImageID": "sha256:b"}, {"Image": "sha256:d", "ImageID": "sha256:d"}]
    assert dockerimages.unused_tags(engine, containers, keep={"paas/stack:host-c"}) == ["paas/image:a"]
    assert dockerimages.unused_tags(engine, [], keep=set()) == ["paas/image:a", "paas/image:b", "paas/image:d",
                                                                "paas/stack:host-c"]


def test_the_engines_images_no_desired_instance_names_are_removed(tmp_path, dockerd):
    from paas.runtime.dockerbackend import DockerBackend

    backend = DockerBackend(base_url=dockerd)
    layer = ia.files({f"marker-{uuid.uuid4().hex}": b"x"})
    kept, dropped = (imageimport.import_archive(ia.docker_save(tmp_path / f"{n}.tar", [layer], Cmd=[f"/{n}"]))
                     for n in ("kept", "dropped"))
    try:
        refs = [dockerimages.ensure(backend.api, image.digest, "host") for image in (kept, dropped)]
        want = Desired(name="collect-1", app="collect", release="v1", process="web.1", command="", image=kept.digest)
        # (What earlier tests left in the session's engine, unused, goes too.)
        removed = backend.collect([want], force=True)
        assert refs[1] in removed and refs[0] not in removed
        assert backend.collect([want]) == []  # not again before COLLECT_EVERY_S
        tags = {t for i in backend.api.images() for t in i.get("RepoTags") or []}
        assert refs[0] in tags and refs[1] not in tags
        # An image a container of the engine still uses stays, desired or not.
        used = dockerimages.ensure(backend.api, dropped.digest, "host")
        container = backend.api.create_container(used, command=["/dropped"])
        try:
            assert backend.collect([], force=True) == [refs[0]]
        finally:
            backend.api.remove_container(container["Id"], force=True)
        assert backend.collect([], force=True) == [refs[1]]
    finally:
        images.gc(images.all_digests() - {kept.digest, dropped.digest})
