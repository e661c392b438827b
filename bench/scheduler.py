"""Scheduler benchmark: place 10,000 instances over 100 simulated hosts.

Two measurements in one run: the placement decision alone (plain code), and
the whole path the control loop takes (read pending instances and host load
from PostgreSQL, decide, write the placements back). The RESULT line uses the
whole path: that is what limits a growing platform.

    .venv/bin/python -P bench/scheduler.py
"""

import os
import random
import sys
import time

INSTANCES = 10_000
HOSTS = 100


def pure_placement_rate() -> float:
    from paas.platform.control.placement import HostCapacity, Request, place

    hosts = [HostCapacity(f"h{i}", 65536, 32, stacks=frozenset({"host"})) for i in range(HOSTS)]
    requests = [Request(i, f"app{i % 500}", random.choice(["web", "worker"]), 256, 0.25, "host")
                for i in range(INSTANCES)]
    started = time.perf_counter()
    decision = place(requests, hosts)
    elapsed = time.perf_counter() - started
    assert len(decision.placed) == INSTANCES
    return INSTANCES / elapsed


def database_placement_rate() -> float:
    from django.contrib.auth import get_user_model

    from paas.platform.control.scheduling import place_pending
    from paas.platform.models import App, Build, Config, Host, Instance, Release

    owner = get_user_model().objects.create_user("bench")
    Host.objects.bulk_create(Host(name=f"host-{i}", address=f"10.9.{i // 250}.{i % 250 + 1}", memory_mb=65536,
                                  cpus=32, last_heartbeat=None, stacks=["host"]) for i in range(HOSTS))
    rows = []
    for a in range(500):
        app = App.objects.create(name=f"bench-{a}", owner=owner, stack="host")
        build = Build.objects.create(app=app, status="succeeded", process_types={"web": "x"}, slug_digest="sha256:x")
        release = Release.objects.create(app=app, version=1, build=build, summary="bench",
                                         config=Config.objects.create(app=app, values={}))
        rows += [Instance(name=f"bench-{a}-{n}", app=app, release=release, process_type="web", number=n + 1,
                          size="small", memory_mb=256, cpus=0.25) for n in range(INSTANCES // 500)]
    Instance.objects.bulk_create(rows, batch_size=2000)
    started = time.perf_counter()
    placed = place_pending()
    elapsed = time.perf_counter() - started
    assert placed == INSTANCES, placed
    return INSTANCES / elapsed


def with_scratch_database(work):
    """Run ``work`` against a fresh database that is dropped afterwards."""
    import psycopg2
    from psycopg2 import sql

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paas")
    name = f"paas_bench_{os.getpid()}"
    admin = psycopg2.connect(base.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + name
    try:
        import django
        from django.core.management import call_command

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
        django.setup()
        call_command("migrate", verbosity=0)
        return work()
    finally:
        from django.db import connections

        connections.close_all()
        admin.cursor().execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.close()


def main() -> int:
    random.seed(7)
    pure = pure_placement_rate()
    whole = with_scratch_database(database_placement_rate)
    print(f"placement decision only: {pure:,.0f} placements/s")
    print(f"whole path with PostgreSQL: {whole:,.0f} placements/s ({INSTANCES} instances, {HOSTS} hosts)")
    print(f"RESULT placements_per_s {whole:.0f} >= 1000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
