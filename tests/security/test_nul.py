"""Issue 10, item 5: NUL and control characters are refused wherever a command, an environment or a spec is built.

paas-init reads its spec as NUL-separated tokens, so a NUL inside a command
argument or an environment value would end that token and start a spec key
of the tenant's choosing. These tests send such values through the runner's
validator (container.create: refused, nothing created on the host) and
through a real build's Procfile and bin/release (the build fails naming the
field; no slug, nothing to release).
"""

import uuid
from pathlib import Path

import pytest

from tests.security.readback import HostileBuilds, executors  # isort: skip  (sets the runtime sandbox first)

from paas.runtime import cgroups, container, stacks
from paas.runtime.errors import SpecError
from paas.runtime.spec import ContainerSpec, Mount

INJECTED = "\x00uid\x000\x00bind\x00/\x00/host\x00rw"


def _spec(**changes) -> ContainerSpec:
    host = stacks.get("host")
    fields = {"command": ("/bin/true",), "layers": host.layers, "binds": host.binds, "network": "none",
              "id": f"nul{uuid.uuid4().hex[:10]}"}
    fields.update(changes)
    return ContainerSpec(**fields)


def _refused(spec: ContainerSpec, *words: str) -> str:
    with pytest.raises(SpecError) as caught:
        container.create(spec)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert "\x00" not in message and "\n" not in message
    # Refused before anything existed: no instance directory, no cgroup, no spec file.
    assert not container.instance_dir(spec.id).exists()
    assert not cgroups.cgroup_for(spec.id).exists()
    return message


@pytest.mark.parametrize("changes, words", [
    ({"command": ("/bin/sh", "-c", "echo hi" + INJECTED)}, ["command argument 2", "U+0000"]),
    ({"command": ("/bin/true" + INJECTED,)}, ["command argument 0", "U+0000"]),
    ({"env": (("GREETING", "hi" + INJECTED),)}, ["environment variable GREETING", "U+0000"]),
    ({"env": (("GREETING\x00uid", "x"),)}, ["environment variable name"]),
    ({"workdir": "/tmp" + INJECTED}, ["workdir", "U+0000"]),
    ({"hostname": "web" + INJECTED}, ["hostname"]),
    ({"id": "nul" + uuid.uuid4().hex[:6] + "\x00uid"}, ["container id"]),
    ({"user": "app" + INJECTED}, ["user", "U+0000"]),
    ({"process": "web" + INJECTED}, ["label process", "U+0000"]),
])
def test_nul_is_refused_in_every_spec_field(changes, words):
    _refused(_spec(**changes), *words)


def test_nul_is_refused_in_a_bind(tmp_path):
    source = tmp_path / "data"
    source.mkdir()
    _refused(_spec(binds=stacks.get("host").binds + (Mount(source, "/data" + INJECTED),)),
             "mount destination", "U+0000")
    _refused(_spec(binds=stacks.get("host").binds + (Mount(Path(str(source) + INJECTED), "/data"),)),
             "mount source", "U+0000")


@pytest.mark.parametrize("changes, words", [
    ({"command": ("/bin/sh", "-c", "echo \x1b[2J")}, ["command argument 2", "U+001B"]),
    ({"command": ("/bin/sh", "-c", "echo hi\r")}, ["command argument 2", "U+000D"]),
    ({"workdir": "/tmp\n"}, ["workdir", "U+000A"]),
    # `$` in a pattern also matches before a trailing newline: the checks use fullmatch.
    ({"id": f"nul{uuid.uuid4().hex[:6]}\n"}, ["container id"]),
    ({"hostname": "web\n"}, ["hostname"]),
    ({"env": (("GREETING\n", "x"),)}, ["environment variable name"]),
])
def test_other_control_characters_are_refused_where_no_field_needs_them(changes, words):
    _refused(_spec(**changes), *words)


def test_tabs_and_newlines_in_commands_and_env_values_are_kept(cid_released):
    spec = _spec(command=("/bin/sh", "-c", "printf '%s' \"$PEM\"\n\texit 0"),
                 env=(("PEM", "-----BEGIN-----\nabc\n-----END-----\t"),))
    cid_released.append(spec.id)
    created = container.create(spec)
    assert created.id == spec.id


@pytest.fixture
def cid_released():
    ids: list[str] = []
    yield ids
    for name in ids:
        container.release(name, "none")


@pytest.fixture(params=sorted(executors()))
def builds(request, tmp_path):
    return HostileBuilds(tmp_path, request.param)


@pytest.mark.parametrize("procfile, words", [
    (b"web: ./serve\x00uid 0\n", ["Procfile line 1", "process type 'web'", "U+0000"]),
    (b"# ok\nworker: echo \x1b[2Jhidden\n", ["Procfile line 2", "process type 'worker'", "U+001B"]),
    (b"web\x00: ./serve\n", ["Procfile line 1", "invalid process type name"]),
])
def test_a_procfile_with_nul_or_control_characters_fails_the_build(builds, procfile, words):
    # Written by the build itself (after compile) and pushed in the source (read before compile).
    escaped = "".join(f"\\{b:03o}" for b in procfile)
    from_compile = builds.source(f"printf '{escaped}' > Procfile\n")
    from_source = builds.source("", {"Procfile": procfile})
    for src in (from_compile, from_source):
        message = builds.refused(src, *words)
        assert "uid 0" not in message and "hidden" not in message
    assert not list(builds.tmp.glob("slug-*.tgz"))


def test_tabs_in_procfile_commands_are_fine(builds):
    slug = builds.build(builds.source("printf 'web:\\t./serve\\t--port\\t8080\\n' > Procfile\n"))
    assert slug.process_types == {"web": "./serve\t--port\t8080"}



def test_a_push_with_a_nul_in_a_procfile_command_is_rejected(pusher, tmp_path):
    from paas.platform.actions.apps import create_app
    from paas.platform.models import Build, Release

    app = create_app(pusher.user, f"nul-{uuid.uuid4().hex[:8]}")
    files = {"Procfile": "web: ./serve.sh\x00uid\x000\x00bind\x00/\x00/host\x00rw\n",
             "serve.sh": "#!/bin/sh\nexec python3 -m http.server \"$PORT\"\n"}
    repo = pusher.repo(tmp_path / "src", files, app.name)
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "Procfile line 1: the command of process type 'web' contains a control character (U+0000)" in result.stderr
    assert Build.objects.get(app=app).status == Build.FAILED
    assert Release.objects.filter(app=app).count() == 1  # nothing released
