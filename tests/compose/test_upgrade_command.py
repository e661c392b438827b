"""`make upgrade` (python -m paas.compose.up --upgrade): SIGHUP to the make up running on the data
dir, found through its pid file, which is read as data: a link, garbage or another process's pid
is refused in one line and nothing is signalled."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for

CHECKOUT = Path(__file__).resolve().parents[2]


def upgrade(data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAAS_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-P", "-m", "paas.compose.up", "--upgrade"], cwd=CHECKOUT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_upgrade_signals_only_a_make_up_named_by_a_plain_pid_file(tmp_path):
    # A stand-in whose command line names paas.compose.up (as make up's does) and that records SIGHUP.
    marker = tmp_path / "got-hup"
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys, time, pathlib\n"
         "signal.signal(signal.SIGHUP, lambda *a: pathlib.Path(sys.argv[1]).write_text('hup'))\n"
         "time.sleep(120)", str(marker), "paas.compose.up"])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pid_file = tmp_path / "up.pid"
    try:
        for content, link in ((str(bystander.pid), False), ("not a pid", False), ("", False),
                              (str(stand_in.pid), True)):
            pid_file.unlink(missing_ok=True)
            if link:
                (tmp_path / "elsewhere").write_text(content)
                pid_file.symlink_to(tmp_path / "elsewhere")
            else:
                pid_file.write_text(content)
            refused = upgrade(tmp_path)
            assert refused.returncode == 1
            assert refused.stderr.strip() == f"paas: no make up is running on {tmp_path}"
        assert bystander.poll() is None and not marker.exists()

        pid_file.unlink()
        assert upgrade(tmp_path).returncode == 1   # no pid file: nothing runs
        pid_file.write_text(f"{stand_in.pid}\n")
        sent = upgrade(tmp_path)
        assert sent.returncode == 0, sent.stderr
        wait_for(marker.exists, 10, "the SIGHUP to arrive")
    finally:
        for child in (stand_in, bystander):
            child.send_signal(signal.SIGKILL)
            child.wait()
