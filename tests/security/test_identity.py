"""No identity shared between tenants, and no privilege a build could plant (issue 10, item 3).

Replayed as a hostile tenant would, with real containers: a build step that
tries to make root-owned and setuid files, execute a setuid-root binary
through a bind, and write the host; instances of two apps and a one-off,
looked at from the host's /proc; one app's uid signalling another's process.
"""

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import uuid

import pytest

from paas.buildpacks.executor import Mount
from paas.buildpacks.slug import pack_slug
from paas.runtime import config, identity, images
from paas.runtime.agent import spec_for
from paas.buildpacks.containerexec import ContainerExecutor
from paas.runtime.container import Container, create, release
from paas.runtime.reconcile import Desired
from tests.runtime.conftest import wait_for

APP_A, APP_B = 31, 32
ROOT_SETUID = 0o4755
PLAIN_KILL = "/bin/kill"

HOSTILE_STEP = r"""
echo "id uid=$(id -u) gid=$(id -g) groups=$(id -G)"
echo "passwd $(grep "^build:" /etc/passwd)"
cat /build/env/SECRET > /dev/null && echo "env readable"
for d in / /usr /usr/bin /etc /build /build/env /build/buildpacks/evil /root /var /sys /proc/sys/kernel; do
    touch "$d/planted" 2>/dev/null && echo "wrote $d"
done
for d in /app /build/cache /build/tmp /tmp; do touch "$d/made" && echo "made $d"; done
chown 0:0 /app/made 2>/dev/null && echo "chowned to root"
chmod 4755 /app/checked-out 2>/dev/null; echo "mode $(stat -c %a /app/checked-out)"
cp /bin/sh /build/cache/sh && chmod 4755 /build/cache/sh && echo "planted setuid sh in the cache"
cp /usr/bin/id /app/id && chmod 6755 /app/id && echo "planted setuid id in the slug"
mkdir /build/cache/shared && chmod 2775 /build/cache/shared
ln -s /etc/shadow /app/shadow
mknod /app/null c 1 3 2>/dev/null && echo "made a device"
for p in /root /home /work /run/netns /proc/keys /proc/timer_list; do [ -s "$p" ] || [ -d "$p" ] && echo "visible $p"; done
echo "euid via bind $(/build/buildpacks/evil/id -u)"
echo "euid via cache $(/build/cache/legacy-id -u)"
sed 's/^/mnt /' /proc/self/mountinfo
echo ready
while [ ! -e /build/tmp/go ]; do sleep 0.05; done
"""


@pytest.fixture(autouse=True)
def private_runtime(monkeypatch):
    """A runtime directory (images, stacks, instances) of this test alone.

    The runtime tests share one on this machine, and a concurrent run's
    `images.gc(set())` would take this test's image away mid-test. Set up
    before, and so torn down after, every other fixture of the test.
    """
    root = tempfile.mkdtemp(prefix="paas-identity-")
    monkeypatch.setenv("PAAS_RUNTIME_DIR", os.path.join(root, "runtime"))
    yield
    shutil.rmtree(root, ignore_errors=True)


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _tenant_processes(c: Container) -> tuple[list[dict], list[dict]]:
    """Status of the container's processes running tenant code, and of its PID 1 (the platform's init).

    A foreground container's cgroup also holds the host-side helper waiting for
    it, which is not in the container's pid namespace (one NSpid entry).
    """
    tenant, init = [], []
    for pid in c.cgroup.pids():
        try:
            status = _status(pid)
        except FileNotFoundError:
            continue
        ns = status["NSpid"].split()
        if len(ns) > 1:
            (init if ns[-1] == "1" else tenant).append(status)
    return tenant, init


def _uids(status: dict[str, str]) -> set[int]:
    return {int(v) for v in status["Uid"].split() + status["Gid"].split()}


def _entries(root):
    """(path, lstat) of root and everything below it, links not followed."""
    yield str(root), os.lstat(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            yield path, os.lstat(path)


def _plant_setuid_root(path):
    with open("/usr/bin/id", "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    os.chown(path, 0, 0)
    os.chmod(path, ROOT_SETUID)


@pytest.fixture
def build_tree(tmp_path):
    """The directories of one build, laid out as the pipeline and the driver make them (root-owned)."""
    work = tmp_path / "work"
    dirs = {name: work / name for name in ("app", "env", "tmp")}
    dirs["cache"] = tmp_path / "cache" / "app-31"
    dirs["evil"] = tmp_path / "evil-buildpack"
    for path in dirs.values():
        path.mkdir(parents=True)
    (dirs["app"] / "checked-out").write_text("print('hi')\n")
    (dirs["env"] / "SECRET").write_text("s3cret")
    os.chmod(dirs["env"] / "SECRET", 0o600)  # readable by its owner only: the build must own it
    # A setuid-root binary in a directory bound read-only (not the build's), and one a build
    # run as root before this change left in the cache.
    _plant_setuid_root(dirs["evil"] / "id")
    _plant_setuid_root(dirs["cache"] / "legacy-id")
    return work, dirs


def test_a_hostile_build_step_gets_no_root_file_no_setuid_bit_and_no_host_write(build_tree):
    work, dirs = build_tree
    uid = identity.build_uid(APP_A)
    executor = ContainerExecutor(name="idbuild", uid=uid, build_dirs=(str(work),))
    mounts = [Mount(str(dirs["app"]), "/app", False), Mount(str(dirs["cache"]), "/build/cache", False),
              Mount(str(dirs["env"]), "/build/env"), Mount(str(dirs["tmp"]), "/build/tmp", False),
              Mount(str(dirs["evil"]), "/build/buildpacks/evil")]
    lines, seen = [], {}

    def on_line(line):
        lines.append(line)
        if line != "ready":
            return
        # While the step runs: its processes, from the host, and the owners of what it made so far
        # (the hand-over after the step re-owns everything, so this is the moment to look).
        found = [c for c in config.instances_dir().glob("idbuild-*")]
        assert len(found) == 1
        container = Container.load(found[0].name)
        seen["status"], (seen["init"],) = _tenant_processes(container)
        seen["owners"] = {path: info.st_uid for name in ("app", "cache", "tmp") for path, info in _entries(dirs[name])}
        open(dirs["tmp"] / "go", "w").close()

    code = executor.run(["/bin/sh", "-c", HOSTILE_STEP], env={"PATH": "/usr/bin:/bin"}, cwd="/app", mounts=mounts,
                        timeout=120, on_line=on_line)
    assert code == 0, lines
    said = [line for line in lines if not line.startswith("mnt ")]

    # It ran as the app's build uid: not root, not any app's uid, no capability, no_new_privs.
    assert f"id uid={uid} gid={uid} groups={uid}" in said
    assert uid not in identity.APP_UIDS and uid != 0
    assert f"passwd build:x:{uid}:{uid}:build:/app:/bin/sh" in said
    assert seen["status"], "no process of the step was seen from the host"
    for status in seen["status"]:
        assert _uids(status) == {uid}, status["Uid"]
        assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0000000000000000"
        assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2" and status["Groups"] == ""
    # The container's PID 1 runs none of the build's code and keeps CAP_KILL (bit 5) only.
    assert seen["init"]["CapEff"] == "0000000000000020" and seen["init"]["NoNewPrivs"] == "1"

    # The build's directories were its own; nothing else of the host was writable.
    assert "env readable" in said
    assert [line for line in said if line.startswith(("wrote ", "visible "))] == []
    assert [line for line in said if line.startswith("made ")] == ["made /app", "made /build/cache",
                                                                    "made /build/tmp", "made /tmp"]
    assert "chowned to root" not in said and "made a device" not in said
    owners = seen["owners"]
    assert os.path.join(dirs["app"], "id") in owners and set(owners.values()) == {uid}, "a build file not its own"

    # A setuid-root binary executes without privilege through a bind (read-only or the build's own).
    assert f"euid via bind {uid}" in said and f"euid via cache {uid}" in said
    binds = {}
    for line in lines:
        if line.startswith("mnt "):
            fields = line.split()
            binds[fields[5]] = set(fields[6].split(","))
    for point in ("/", "/app", "/build/cache", "/build/tmp", "/build/env", "/build/buildpacks/evil", "/usr"):
        assert {"nosuid", "nodev"} <= binds[point], (point, binds.get(point))

    # Afterwards, on the host: nothing of the build carries a setuid/setgid bit or belongs to root,
    # the link it planted was not followed, and the read-only directory is as it was.
    for name in ("app", "cache", "tmp", "env"):
        for path, info in _entries(dirs[name]):
            assert info.st_uid == uid and info.st_gid == uid, path
            if not stat.S_ISLNK(info.st_mode):
                assert not info.st_mode & (stat.S_ISUID | stat.S_ISGID), path
    assert os.lstat("/etc/shadow").st_uid == 0
    assert sorted(os.listdir(dirs["evil"])) == ["id"]
    assert (os.stat(dirs["evil"] / "id").st_uid, stat.S_IMODE(os.stat(dirs["evil"] / "id").st_mode)) == (0, ROOT_SETUID)

    # The slug packed from /app carries no setuid/setgid member either (the link out of /app the
    # build planted makes packing fail, tests/security/test_build_readback.py: take it away first).
    os.unlink(dirs["app"] / "shadow")
    slug = work / "slug.tgz"
    pack_slug(str(dirs["app"]), str(slug), 1 << 30)
    with tarfile.open(slug) as tar:
        members = {m.name: m.mode for m in tar.getmembers()}
    assert "./id" in members and not any(mode & (stat.S_ISUID | stat.S_ISGID) for mode in members.values())


# -- instances ------------------------------------------------------------------

PROBE = 'echo "passwd $(grep ^app: /etc/passwd)"; echo "uid $(id -u)"; exec sleep 600'


@pytest.fixture
def image(tmp_path):
    slug = tmp_path / "slug.tar"
    with tarfile.open(slug, "w") as tar:
        data = f"#!/bin/sh\necho {uuid.uuid4().hex}\n".encode()
        info = tarfile.TarInfo("./run.sh")
        info.size, info.mode = len(data), 0o6755  # setuid+setgid in the slug: gone once unpacked
        tar.addfile(info, io.BytesIO(data))
    return images.put(slug, stack="host", process_types={"worker": PROBE})


@pytest.fixture
def started():
    names = []

    def start(d: Desired) -> Container:
        names.append(d.name)
        c = create(spec_for(d, stop_grace=0.5))
        c.start()
        return c

    yield start
    for name in names:
        release(name)


def _desired(image, app_id, process="worker.1", **kw):
    app = f"idapp{app_id}"
    return Desired(name=f"{app}.{process}.{uuid.uuid4().hex[:6]}", app=app, release="v1", process=process,
                   command=kw.pop("command", ""), image=image.digest, memory_mb=64, cpus=0.5, app_id=app_id, **kw)


def _app_process(c: Container) -> int:
    """The app's own process (not the container's PID 1) once it has exec'd its final command."""
    def find():
        for pid in c.cgroup.pids() - {c.record.pid}:
            try:
                if open(f"/proc/{pid}/comm").read().strip() == "sleep":
                    return pid
            except FileNotFoundError:
                continue
        return None
    return wait_for(find, timeout=20, what=f"the app process of {c.id}")


def _said(c: Container) -> list[str]:
    return wait_for(lambda: (lambda text: text.count("\n") >= 2 and text.splitlines())(
        (c.dir / "stdout.log").read_text()), timeout=20, what=f"output of {c.id}")


def test_two_apps_and_a_one_off_run_as_their_apps_own_host_uids(image, started):
    a = started(_desired(image, APP_A))
    b = started(_desired(image, APP_B))
    run = started(_desired(image, APP_A, process="run.1", command=PROBE, once=True))
    uid_a, uid_b = identity.app_uid(APP_A), identity.app_uid(APP_B)
    assert uid_a != uid_b
    for c, uid in ((a, uid_a), (b, uid_b), (run, uid_a)):
        status = _status(_app_process(c))
        assert _uids(status) == {uid}, (c.id, status["Uid"])
        assert uid not in identity.BUILD_UIDS and uid not in identity.RESERVED_UIDS
        assert _said(c) == [f"passwd app:x:{uid}:{uid}:app:/app:/bin/sh", f"uid {uid}"]
    # Every uid of every process of the app (PID 1 aside) is the app's: none of another tenant.
    for c, uid in ((a, uid_a), (b, uid_b)):
        tenant, _ = _tenant_processes(c)
        assert tenant and all(_uids(status) == {uid} for status in tenant)
    # The layer each app runs on is its own, owned by its uid, without the slug's setuid bit.
    for uid in (uid_a, uid_b):
        run_sh = images.layer(image.digest, uid=uid) / "app" / "run.sh"
        info = os.lstat(run_sh)
        assert (info.st_uid, info.st_gid) == (uid, uid) and not info.st_mode & (stat.S_ISUID | stat.S_ISGID)


def _kill_as(uid: int, pid: int, sig: str = "0") -> subprocess.CompletedProcess:
    return subprocess.run([PLAIN_KILL, f"-{sig}", str(pid)], user=uid, group=uid, extra_groups=[],
                          capture_output=True, text=True, timeout=30)


def test_one_apps_uid_cannot_signal_another_apps_processes(image, started):
    a = started(_desired(image, APP_A))
    target = _app_process(a)
    for intruder in (identity.app_uid(APP_B), identity.build_uid(APP_A), identity.build_uid(APP_B)):
        result = _kill_as(intruder, target, "KILL")
        assert result.returncode != 0 and "not permitted" in result.stderr, (intruder, result)
    assert a.is_running() and os.path.exists(f"/proc/{target}")
    # The same call as the app's own uid reaches it: what refused the others was their uid.
    assert _kill_as(identity.app_uid(APP_A), target).returncode == 0
