"""Benchmark of the add-ons: provisioning time, PostgreSQL throughput against a bare server, a verified backup.

    .venv/bin/python -P bench/addons.py [--seconds 10] [--rounds 2]

Set-up (its own): a scratch database of the platform's PostgreSQL (DATABASE_URL,
as bench/scheduler.py), its own runtime directory, cgroup parent, bridge and
address pool, and a host agent (the real one, DjangoControlPlane) in a thread;
timing starts once the agent has made its host's PostgreSQL cluster template
(services/templates.py, made when an agent starts).

1. provision_s: from `addons:create postgres` (broker.provision) to DATABASE_URL
   bound in the app's config and its server answering a query (the control
   loop's settle pass runs every 0.1 s, as an active control loop does);
2. pgbench_vs_bare: pgbench TPS (TPC-B-like, scale 5, 4 clients) against the
   add-on's server and, in the same run and alternating round by round, against
   a PostgreSQL of the same version started by hand on the host with the same
   settings (shared_buffers, max_connections) in a cgroup with the plan's memory
   and CPU limits; plain TCP to both (the bare one has no TLS); medians of
   --rounds rounds of --seconds each. A round with failed transactions is
   reported and not scored.
3. backup_restore_verified: a capture of the add-on, verified by a scratch restore.
"""

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DIR = Path("/tmp/paas-bench-addons")
os.environ.update({
    "PAAS_RUNTIME_DIR": str(BENCH_DIR / "runtime"),
    "PAAS_DATA_DIR": str(BENCH_DIR / "data"),
    "PAAS_CGROUP_PARENT": "paas-bench-addons",
    "PAAS_BRIDGE": "paasbao0",
    "PAAS_ADDRESS_POOL": "10.226.0.0/16",
    "PAAS_ADDON_PORTS": "15500-15599",
})
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler import with_scratch_database  # noqa: E402  (the same scratch database as the scheduler's bench)

SCALE, CLIENTS = 5, 4


def tool(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(found[-1])


def pgbench(conninfo: str, password: str, seconds: int, init: bool = False) -> tuple[float, str]:
    """(TPS, error) of one pgbench round; error is "" when every transaction succeeded."""
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": password, "LC_ALL": "C"}
    if init:
        subprocess.run([tool("pgbench"), "-i", "-q", "-s", str(SCALE), conninfo], env=env, check=True,
                       capture_output=True)
        return 0.0, ""
    result = subprocess.run([tool("pgbench"), "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), "-n", conninfo],
                            env=env, capture_output=True, text=True, check=False)
    tps = re.search(r"tps = ([0-9.]+)", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    if result.returncode != 0 or tps is None or (failed and failed.group(1) != "0"):
        return 0.0, (result.stderr or result.stdout).strip()[-300:]
    return float(tps.group(1)), ""


class BareServer:
    """PostgreSQL started by hand on the host: the same binaries and settings, the same memory limit."""

    def __init__(self, memory_mb: int, shared_buffers: str, max_connections: str, cpus: float):
        self.cpus = cpus
        self.dir = Path(tempfile.mkdtemp(prefix="bare-", dir=BENCH_DIR))
        self.password = secrets.token_hex(16)
        self.port = 15700
        self.settings = (memory_mb, shared_buffers, max_connections)

    def start(self) -> None:
        import pwd

        from paas.runtime import cgroups
        from paas.runtime.spec import Limits

        # PostgreSQL refuses root and initdb wants a named user: the host's own postgres account.
        uid = pwd.getpwnam("postgres").pw_uid
        os.chown(self.dir, uid, uid)
        as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        (self.dir / "pw").write_text(self.password + "\n")
        os.chown(self.dir / "pw", uid, uid)
        subprocess.run([*as_user, tool("initdb"), "-D", str(self.dir / "db"), "-U", "postgres",
                        f"--pwfile={self.dir / 'pw'}", "-A", "scram-sha-256", "--locale=C"], check=True,
                       capture_output=True)
        memory_mb, shared_buffers, max_connections = self.settings
        self.cgroup = cgroups.cgroup_for("bench-bare-postgres")
        self.cgroup.create(Limits(memory=memory_mb << 20, cpus=self.cpus))
        self.proc = subprocess.Popen(
            [*as_user, tool("postgres"), "-D", str(self.dir / "db"), "-c", "listen_addresses=127.0.0.1",
             "-c", f"port={self.port}", "-c", f"unix_socket_directories={self.dir}",
             "-c", "dynamic_shared_memory_type=mmap", "-c", f"shared_buffers={shared_buffers}",
             "-c", f"max_connections={max_connections}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=self._join)
        deadline = time.monotonic() + 30
        while subprocess.run([tool("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("the bare server did not start")
            time.sleep(0.1)

    def _join(self) -> None:
        for procs in self.cgroup.procs_files():  # before exec: the server never runs outside its limit
            procs.write_text(str(os.getpid()))

    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self) -> None:
        if getattr(self, "proc", None):
            self.proc.terminate()
            self.proc.wait(30)
            self.cgroup.remove()
        shutil.rmtree(self.dir, ignore_errors=True)


def provision(user, app, agent):
    """broker.provision, then settle passes until DATABASE_URL is bound and the server answers; seconds."""
    from paas.platform.models import Addon
    from paas.services import broker
    from paas.services.probe import answers
    from paas.services.settle import settle

    started = time.perf_counter()
    addon = broker.provision(user, app, "postgres")
    agent.wake.set()
    deadline = time.monotonic() + 120
    while True:
        settle()
        addon = Addon.objects.get(pk=addon.pk)
        if os.environ.get("BENCH_TRACE"):
            print(f"{time.perf_counter() - started:6.2f} {addon.state} {addon.server_state} {addon.address}")
        bound = all(a.bound for a in addon.attachments.all())
        if addon.state == "available" and bound and answers(addon):
            return addon, time.perf_counter() - started
        if time.monotonic() > deadline:
            raise RuntimeError(f"{addon.name} not available after 120 s: {addon.state} {addon.state_message}")
        time.sleep(0.1)


def compare_pgbench(addon, seconds: int, rounds: int) -> tuple[float, list[str]]:
    from paas.services import catalog, postgres

    plan = catalog.service("postgres").plan(addon.plan)
    env = dict(postgres.server_env(plan, addon.credentials))
    bare = BareServer(plan.memory_mb, env["PAAS_PG_SHARED_BUFFERS"], env["PAAS_PG_MAX_CONNECTIONS"], plan.cpus)
    errors = []
    try:
        bare.start()
        # Plain TCP to both: the bare server has no TLS, so the add-on's would be a difference of setup.
        targets = {"addon": (f"host={addon.address} port=5432 user=postgres sslmode=disable "
                             f"dbname={addon.credentials['database']}", addon.credentials["superuser_password"]),
                   "bare": (bare.conninfo() + " sslmode=disable", bare.password)}
        for conninfo, password in targets.values():
            pgbench(conninfo, password, 0, init=True)
        tps = {"addon": [], "bare": []}
        for round_number in range(rounds):
            for name in ("bare", "addon") if round_number % 2 == 0 else ("addon", "bare"):
                value, error = pgbench(*targets[name], seconds)
                print(f"round {round_number + 1} {name}: {value:.0f} tps {error}")
                if error:
                    errors.append(f"{name} round {round_number + 1}: {error}")
                else:
                    tps[name].append(value)
    finally:
        bare.stop()
    if errors or not tps["addon"] or not tps["bare"]:
        return 0.0, errors
    return statistics.median(tps["addon"]) / statistics.median(tps["bare"]), errors


def verified_backup(user, app) -> int:
    from paas.services import backups

    backup = backups.capture(user, app)
    state = backups.run(backup.pk)
    backup.refresh_from_db()
    print(f"backup {backup.label}: {state} {backup.message} ({len(backup.counts)} tables)")
    backups.file_of(backup).unlink(missing_ok=True)
    return int(state == "verified")


def work(args):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from paas.platform.hostagent import DjangoControlPlane
    from paas.platform.models import Addon, App, Host
    from paas.runtime import addonnet, config, container, firewall, ipam, network, volumes
    from paas.runtime.agent import Agent, HostInfo

    user = get_user_model().objects.create_user("bench-addons")
    app = App.objects.create(name="bench-addons", owner=user, stack="host")
    host = Host.objects.create(name="bench-addons-host", address="127.0.0.1", memory_mb=4096, cpus=2,
                               last_heartbeat=timezone.now())
    agent = Agent(DjangoControlPlane(), HostInfo(host.name, "127.0.0.1", 4096, 2), None, interval=0.1,
                  stop_grace=5)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    lines = []
    try:
        from paas.services import templates
        # A host is ready once its agent has made the cluster template (at its start, in the background).
        deadline = time.monotonic() + 120
        while not (templates.postgres_dir() / "pgdata" / "PG_VERSION").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        addon, provision_s = provision(user, app, agent)
        print(f"provisioned {addon.name} in {provision_s:.2f} s")
        lines.append(f"RESULT provision_s {provision_s:.2f} <= 5")
        ratio, errors = compare_pgbench(addon, args.seconds, args.rounds)
        if errors:
            lines.append(f"INVALID pgbench_vs_bare: rounds with errors: {'; '.join(errors)[:400]}")
        else:
            lines.append(f"RESULT pgbench_vs_bare {ratio:.3f} >= 0.9")
        lines.append(f"RESULT backup_restore_verified {verified_backup(user, app)} >= 1")
    finally:
        agent.stopping.set()
        agent.wake.set()
        thread.join(30)
        for addon in Addon.objects.all():
            container.release(addon.name)
            volumes.remove(addon.name)
        addonnet.remove()
        firewall.remove_rules()
        for segment in (ipam.segment(0), ipam.services_segment()):  # the bench's own bridges and forwarders
            network.remove_bridge(segment)
        from django.db import connection
        with connection.cursor() as cursor:  # the agent thread's connections, so the database can go
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        shutil.rmtree(config.runtime_dir() / "instances", ignore_errors=True)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    lines = with_scratch_database(lambda: work(args))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
