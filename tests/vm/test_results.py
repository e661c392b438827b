"""Reading back what the guest wrote: a real pytest's failures and skips reach the host's
message, and a hostile results directory (links, a FIFO, a huge file, no exit code) is
refused with one line, without following or hanging.

The guest is ours, but its share is written by a machine running the suite's containers;
the host treats it as it treats any tenant's output.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vm import image, qemu

SAMPLE = '''
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 + 1 == 3, "arithmetic broke"

def test_skips():
    pytest.skip("not here")
'''


def _guest_like_run(out, tmp_path):
    """What guest-run.sh leaves: a real pytest's junit.xml, its output, then the exit code."""
    (tmp_path / "sample").mkdir()
    sample = tmp_path / "sample" / "test_sample.py"
    sample.write_text(SAMPLE)
    out.mkdir()
    with open(out / "pytest.log", "w") as log:
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django",
                                f"--junitxml={out / 'junit.xml'}", "--rootdir", str(sample.parent), str(sample)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=sample.parent)
    (out / "timings.json").write_text('{"booted": 20.5, "installed": 35.0, "tested": 100.0}\n')
    (out / "exitcode").write_text(f"{code}\n")
    return code


def test_a_guest_failure_and_skip_reach_the_host(tmp_path):
    out = tmp_path / "out"
    code = _guest_like_run(out, tmp_path)
    result = qemu.results(out, wall=101.0)
    assert code == result.exit_code == 1
    assert result.tests == 3
    assert len(result.failures) == 1 and "test_fails" in result.failures[0]
    assert "arithmetic broke" in result.failures[0]
    assert len(result.skipped) == 1 and "not here" in result.skipped[0]
    assert result.timings == {"boot_s": 20.5, "install_s": 14.5, "suite_s": 65.0, "qemu_wall_s": 101.0}
    assert "1 failed, 1 passed, 1 skipped" in result.log_tail


def test_no_exit_code_is_a_guest_error_with_the_console(tmp_path):
    (tmp_path / "console.log").write_text("Kernel panic - not syncing: VFS: Unable to mount root fs\n")
    with pytest.raises(qemu.GuestError, match="wrote no exit code") as error:
        qemu.results(tmp_path, wall=3.0, how_it_ended="qemu exited 0")
    assert "Unable to mount root fs" in str(error.value)


def test_a_failed_install_shows_its_log(tmp_path):
    (tmp_path / "install.log").write_text("ERROR: setuptools is missing\n")
    (tmp_path / "exitcode").write_text("125\n")
    result = qemu.results(tmp_path, wall=40.0)
    assert result.exit_code == 125 and result.tests == 0
    assert "setuptools is missing" in result.log_tail


def test_a_link_is_not_followed(tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("do not read\n")
    os.symlink(secret, tmp_path / "junit.xml")
    with pytest.raises(qemu.GuestError) as error:
        qemu.read(tmp_path, "junit.xml")
    assert "do not read" not in str(error.value)
    os.symlink(secret, tmp_path / "exitcode")
    with pytest.raises(qemu.GuestError):
        qemu.results(tmp_path, wall=1.0)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pytest.log")
    with pytest.raises(qemu.GuestError, match="not a regular file"):
        qemu.read(tmp_path, "pytest.log")


def test_an_oversized_file_is_refused_unread(tmp_path):
    with open(tmp_path / "junit.xml", "wb") as f:
        f.truncate(qemu.LIMITS["junit.xml"] + 1)
    with pytest.raises(qemu.GuestError, match="over"):
        qemu.read(tmp_path, "junit.xml")


def test_junit_that_does_not_parse_is_one_line(tmp_path):
    (tmp_path / "exitcode").write_text("0\n")
    (tmp_path / "junit.xml").write_text("<testsuites><testcase name='x'>")
    with pytest.raises(qemu.GuestError, match="does not parse"):
        qemu.results(tmp_path, wall=1.0)


def test_the_results_share_keeps_guest_files_plain_on_the_host(tmp_path):
    """The qemu command line: the checkout read-only, the results share in mapped-xattr
    (a link or device the guest makes there is a plain file here), the root disk a
    snapshot, the network restricted."""
    img = qemu.vm_image.Image(tmp_path / "root.img", tmp_path / "vmlinuz", tmp_path / "initrd.img")
    cmd = qemu.command(img, tmp_path / "out")
    shares = [cmd[i + 1] for i, word in enumerate(cmd) if word == "-virtfs"]
    assert shares[0].endswith("mount_tag=paas,security_model=none,readonly=on")
    assert shares[1].endswith("mount_tag=out,security_model=mapped-xattr")
    assert any(word.startswith(f"file={img.root},") and "snapshot=on" in word for word in cmd)
    assert "user,id=net0,restrict=on" in cmd


def test_a_guest_kernel_panic_is_told_apart(tmp_path):
    (tmp_path / "console.log").write_text("[  132.4] Kernel panic - not syncing: Fatal exception in interrupt\n")
    with pytest.raises(qemu.GuestPanic, match="Fatal exception in interrupt"):
        qemu.results(tmp_path, wall=133.0, how_it_ended="qemu exited 0")


def test_the_guest_powers_off_on_a_kernel_fault():
    # A panicking guest must end the run at once rather than hang to the deadline.
    args = qemu.command(image.Image(Path("root.img"), Path("vmlinuz"), Path("initrd.img")), Path("out"))
    append = args[args.index("-append") + 1].split()
    assert "-no-reboot" in args and "panic=-1" in append and "oops=panic" in append
