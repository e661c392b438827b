"""Upgrade benchmark: app requests through the router while the whole platform is upgraded.

    .venv/bin/python -P bench/upgrade.py [--rounds 3] [--keep]

Runs ``make up`` itself (``python -m paas.compose.up``, as root: the agent runs the app) on a
data directory of its own under /tmp, with its private PostgreSQL and Redis on free ports,
deploys a small app (two web instances) with a real ``git push``, and puts steady load on it
through the router: keep-alive clients and new-connection clients (tests/load.py, which says
what counts as a failed request). Then, each round:

    upgrade   ``make upgrade`` (SIGHUP to make up: migrations, then every process restarted
              one at a time: API and git reloaded, build worker and router started beside the
              old ones, control loop and agent restarted), load running throughout, until
              make up reports the upgrade done and the new processes served a while
    kill      ``kill -9`` of the router (its leading process and its workers, at once): the
              time until a request sent after the kill is answered (make up restarts it on the
              listening socket it holds; connections wait in its queue meanwhile). Requests in flight on the killed
              router fail and are counted apart (router_kill_failed_requests), not as upgrade
              failures.

A round is invalid (and the benchmark fails) when the upgrade does not finish, the app stops
being served, or anything else goes wrong; the failed requests are counted, not hidden.

Clean-up (also on failure): Ctrl-C to make up (it stops its processes, the app's instances and
its private servers), then any process left that mentions the data directory, then the directory.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from tests.faults.upplatform import BODY, Platform, deploy, dispose  # noqa: E402
from tests.load import Load, first_answer_after  # noqa: E402
from tests.waiting import wait_for  # noqa: E402

APP = "upbench"


def upgrade_round(platform: Platform, load: Load) -> dict:
    done_before = platform.output().count("paas: upgrade done")
    failed_before, retried_before = load.tally.failed, load.tally.retried
    started = time.monotonic()
    platform.upgrade()

    def finished():
        out = platform.output()
        if "upgrade stopped" in out[-5000:]:
            raise RuntimeError("make up stopped the upgrade:\n" + out[-3000:])
        return out.count("paas: upgrade done") > done_before

    wait_for(finished, 600, "make up to report the upgrade done", interval=0.2)
    took = time.monotonic() - started
    # The new processes carry the load a while before the round is judged.
    mark = load.total()
    wait_for(lambda: load.total() >= mark + 500, 60, "requests through the upgraded router")
    return {"upgrade_s": took, "failed": load.tally.failed - failed_before,
            "retried": load.tally.retried - retried_before}


def kill_round(platform: Platform, load: Load) -> dict:
    victim = platform.leader("paas-router")
    if victim is None:
        raise RuntimeError("no router is running")
    failed_before = load.tally.failed
    since = time.monotonic()
    # The whole router, workers included: nothing of the old one answers after this instant.
    os.killpg(victim, signal.SIGKILL)
    back = first_answer_after(platform.router_port, f"{APP}.localhost", since, 30)
    if back is None:
        raise RuntimeError("the router did not serve again within 30 s")
    wait_for(lambda: platform.leader("paas-router") not in (None, victim), 30, "the new router")
    mark = load.total()
    wait_for(lambda: load.total() >= mark + 300, 60, "requests through the restarted router")
    return {"restart_s": back, "failed": load.tally.failed - failed_before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (its up.log)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/upgrade.py: needs root (make up's agent runs the app's instances)", file=sys.stderr)
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="paas-upgrade-bench-", dir="/tmp"))
    data_dir.chmod(0o755)   # PostgreSQL runs as its own user under it
    scratch = Path(tempfile.mkdtemp(prefix="paas-upgrade-bench-src-"))
    platform = None
    upgrades, kills = [], []
    try:
        platform = Platform(data_dir)
        deploy(platform, scratch, APP)
        print(f"app {APP} deployed: 2 web instances behind the router on :{platform.router_port}", flush=True)
        with Load(platform.router_port, f"{APP}.localhost", body=BODY, keepalive=4, fresh=2) as load:
            wait_for(lambda: load.tally.ok >= 200, 60, "steady load")
            if load.tally.failed:
                raise RuntimeError(f"requests failed before any upgrade: {load.tally.failures}")
            for number in range(1, args.rounds + 1):
                result = upgrade_round(platform, load)
                upgrades.append(result)
                print(f"upgrade round {number}: every process restarted in {result['upgrade_s']:.1f} s, "
                      f"{result['failed']} failed requests, {result['retried']} retried on a new connection",
                      flush=True)
                if result["failed"]:
                    for when, what in load.tally.failures[-result["failed"]:]:
                        print(f"    failed: {what}", flush=True)
            for number in range(1, args.rounds + 1):
                result = kill_round(platform, load)
                kills.append(result)
                print(f"kill -9 router round {number}: serving again after {result['restart_s']:.2f} s, "
                      f"{result['failed']} requests in flight failed", flush=True)
            tally = load.stop()
        print(f"requests: {tally.ok} ok, {tally.failed} failed, {tally.retried} retried on a new connection")
    except (RuntimeError, OSError, subprocess.SubprocessError, urllib.error.URLError) as error:
        print(f"bench/upgrade.py: invalid run: {error}", file=sys.stderr)
        return 1
    finally:
        dispose(platform, data_dir, scratch, keep=args.keep)
        if args.keep:
            print(f"kept {data_dir}", file=sys.stderr)
    failed = sum(r["failed"] for r in upgrades)
    restart = statistics.median(r["restart_s"] for r in kills)
    print(f"RESULT upgrade_failed_requests {failed} <= 0")
    print(f"RESULT router_restart_s {restart:.2f} <= 2")
    print(f"RESULT router_kill_failed_requests {sum(r['failed'] for r in kills)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
