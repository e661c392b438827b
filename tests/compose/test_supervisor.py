"""The supervisor of `make up`: a crashed process is restarted with backoff while the rest keeps running."""

import os
import signal
import sys
import time

from paas.compose.supervisor import Backoff, Program, Supervisor, describe_exit
from tests.waiting import wait_for


def test_backoff_doubles_after_short_runs_and_resets_after_a_stable_one():
    backoff = Backoff(first=1, limit=8, stable_after=60, loop_crashes=100)
    assert [backoff.crashed(t, 1)[0] for t in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.crashed(10, 61) == (1, False)


def test_many_crashes_in_the_window_are_a_crash_loop_with_the_longest_wait():
    backoff = Backoff(first=1, limit=30, loop_crashes=3, loop_window=100)
    assert backoff.crashed(0, 0) == (1, False)
    assert backoff.crashed(1, 0) == (2, False)
    assert backoff.crashed(2, 0) == (30, True)
    # Crashes older than the window no longer count.
    assert backoff.crashed(500, 0)[1] is False


def test_exit_descriptions():
    assert describe_exit(3) == "status 3"
    assert describe_exit(-9) == "signal 9 (SIGKILL)"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_program_comes_back_and_the_others_keep_running():
    crashes = []
    supervisor = Supervisor(grace_seconds=5, on_crash=lambda *args: crashes.append(args),
                            backoff=lambda: Backoff(first=0.1, limit=0.4))
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    supervisor.start(Program("steady", sleeper))
    supervisor.start(Program("victim", sleeper))
    steady, victim = supervisor.children["steady"].pid, supervisor.children["victim"].pid
    try:
        os.kill(victim, signal.SIGKILL)

        def restarted():
            supervisor.check_once(time.monotonic())
            child = supervisor.children.get("victim")
            return child is not None and child.pid != victim and child.poll() is None

        wait_for(restarted, 20, "the killed program to be restarted")
        assert crashes[0][:2] == ("victim", -9)
        assert supervisor.children["steady"].pid == steady and alive(steady)
    finally:
        supervisor.stop_all()
    assert not alive(steady) and not alive(supervisor.children["victim"].pid)


def test_a_finished_oneshot_is_not_restarted():
    supervisor = Supervisor(backoff=lambda: Backoff(first=0.1))
    supervisor.start(Program("job", [sys.executable, "-c", "pass"], oneshot=True))
    try:
        wait_for(lambda: (supervisor.check_once(time.monotonic()), "job" not in supervisor.children)[1], 20,
                 "the one-shot job to finish")
        supervisor.check_once(time.monotonic() + 10)
        assert "job" not in supervisor.children and not supervisor.restart_at
    finally:
        supervisor.stop_all()
