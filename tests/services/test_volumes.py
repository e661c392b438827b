"""Persistent volumes on the host: made once, kept across mounts, size-limited, removed whole."""

import errno
import os
import uuid

import pytest

from paas.runtime import volumes
from paas.runtime.errors import SpecError

UID = 2000000123


@pytest.fixture
def volume():
    name = f"t-{uuid.uuid4().hex[:8]}"
    yield name
    volumes.remove(name)


def test_a_volume_keeps_its_data_across_unmounts_and_goes_with_remove(volume):
    path = volumes.ensure(volume, 32 << 20, UID)
    assert path.stat().st_uid == UID and oct(path.stat().st_mode & 0o777) == "0o700"
    (path / "data").write_text("kept")
    os.system(f"umount {path}")  # a reboot: the mount goes, the image stays
    assert not volumes.is_mounted(volume)
    assert (volumes.ensure(volume, 32 << 20, UID) / "data").read_text() == "kept"
    assert volume in volumes.names()
    volumes.remove(volume)
    assert not volumes.exists(volume) and not volumes.path(volume).exists()
    volumes.remove(volume)  # twice: nothing to do


def test_a_full_volume_is_enospc_not_a_full_host(volume):
    path = volumes.ensure(volume, 16 << 20, UID)
    with pytest.raises(OSError) as full:
        with open(path / "big", "wb") as handle:
            for _ in range(64):
                handle.write(b"\0" * (1 << 20))
                handle.flush()
                os.fsync(handle.fileno())
    assert full.value.errno == errno.ENOSPC
    usage = volumes.usage(volume)
    assert usage["used_bytes"] <= usage["size_bytes"] <= 16 << 20


def test_a_volume_mount_runs_nothing_and_honours_no_device(volume):
    path = volumes.ensure(volume, 16 << 20, UID)
    options = next(line.split()[3] for line in open("/proc/mounts") if line.split()[1] == str(path))
    assert {"nosuid", "nodev", "noexec"} <= set(options.split(","))


@pytest.mark.parametrize("name", ["", "../etc", "A", "a/b", "x" * 64, "-lead", "a b"])
def test_bad_names_and_sizes_are_refused_before_any_file(name):
    with pytest.raises(SpecError):
        volumes.ensure(name, 32 << 20, UID)


def test_sizes_out_of_range_are_refused(volume):
    for size in (0, 1 << 20, 1 << 50):
        with pytest.raises(SpecError):
            volumes.ensure(volume, size, UID)
    assert not volumes.exists(volume)
