"""Killing one process of the end-to-end platform (tests/e2e/fixtures.py) as a crash would, and
starting its replacement as make up's supervisor would."""

import os
import signal

from tests.e2e.platform_procs import Processes


def kill_program(procs: Processes, marker: str) -> int:
    """``kill -9`` the running program whose command line holds ``marker``, with its process group
    (as make up reaps a crashed program's helpers); return its pid."""
    for child in procs.children:
        if child.poll() is None and any(marker in str(arg) for arg in child.args):
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return child.pid
    raise AssertionError(f"no running {marker} among the platform's processes")
