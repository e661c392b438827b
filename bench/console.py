"""The console at scale: server time and SQL queries of every page with 1,000 apps, 100 hosts,
10,000 instances, 1,000,000 events, 200 add-ons and 1,000 backups in the database.

Pages are asked over HTTP of the server `make up` runs (platform/api_server.py: uvicorn and
Django's ASGI handler) with a logged-in session, as an admin and as a member of some apps. Side
by side in the same run, the peer: Django's model admin (/admin/), what admins had before the
console, over the same rows. SQL queries per page are counted in-process with the same views.
Where each page's server time goes is measured in-process too: the median CPU time of Django's code and
of the PostgreSQL backend answering it (/proc), which the machine's load barely moves.
A page that answers anything but 200 makes the round invalid: reported, not scored.

    .venv/bin/python -P bench/console.py
"""

import http.client
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APPS, HOSTS, INSTANCES, EVENTS, USERS = 1000, 100, 10_000, 1_000_000, 50
ADDON_EVERY, BACKUPS_EACH = 5, 5       # a PostgreSQL add-on for every fifth app, five backups of each
SAMPLES = 30
CPU_ROUNDS = 10        # in-process requests per page for its CPU time
MEMBER = "user-7"


def scratch_database():
    spec = importlib.util.spec_from_file_location("bench_scheduler", Path(__file__).with_name("scheduler.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.with_scratch_database


def seed() -> None:
    """The platform's rows in bulk: each app with a build, two releases, a formation, ten instances."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from paas.platform.models import App, Build, Config, Formation, Host, Instance, Release

    User = get_user_model()
    User.objects.create_superuser("admin", "admin@example.com", "bench-password-1")
    users = User.objects.bulk_create(User(username=f"user-{i}", password="!") for i in range(USERS))
    hosts = Host.objects.bulk_create(Host(name=f"host-{i:03d}", address=f"10.9.{i // 250}.{i % 250 + 1}",
                                          memory_mb=65536, cpus=32, last_heartbeat=timezone.now())
                                     for i in range(HOSTS))
    apps = App.objects.bulk_create(App(name=f"app-{i:04d}", owner=users[i % USERS], stack="host") for i in range(APPS))
    configs = Config.objects.bulk_create(Config(app=a, values={"SECRET": "x", "DEBUG": "0"}) for a in apps)
    builds = Build.objects.bulk_create(Build(app=a, commit="c" * 40, status=Build.SUCCEEDED, buildpack="python",
                                             process_types={"web": "python app.py"}, output="-----> ok\n" * 200)
                                       for a in apps)
    first = Release.objects.bulk_create(Release(app=a, version=1, config=c, summary="Initial release",
                                                status=Release.SUCCEEDED) for a, c in zip(apps, configs))
    live = Release.objects.bulk_create(Release(app=a, version=2, config=c, build=b, summary="Deploy",
                                               status=Release.SUCCEEDED) for a, c, b in zip(apps, configs, builds))
    assert len(first) == APPS
    Formation.objects.bulk_create(Formation(app=a, process_type="web", quantity=INSTANCES // APPS) for a in apps)
    per_app = INSTANCES // APPS
    Instance.objects.bulk_create(
        Instance(name=f"{a.name}-web-{n}", app=a, release=r, process_type="web", number=n, size="small",
                 memory_mb=256, cpus=0.25, host=hosts[(i * per_app + n) % HOSTS],
                 state=Instance.CRASHED if n == 1 and i % 50 == 0 else Instance.UP)
        for i, (a, r) in enumerate(zip(apps, live)) for n in range(1, per_app + 1))
    seed_addons(apps, hosts)
    with connection.cursor() as cursor:
        # A million audit entries over 30 days, spread over the apps and their owners.
        cursor.execute(
            """INSERT INTO platform_event (app_id, app_name, app_pk, actor_id, actor_name, action, message, data,
                                           created_at)
               SELECT a.id, a.name, a.id, a.owner_id, u.username, 'release.create', 'v2: Deploy', '{}'::jsonb,
                      now() - (g * interval '2.592 seconds')
               FROM generate_series(1, %s) g
               JOIN platform_app a ON a.id = (SELECT min(id) FROM platform_app) + g %% %s
               JOIN auth_user u ON u.id = a.owner_id""", [EVENTS, APPS])
        cursor.execute("ANALYZE")


def seed_addons(apps, hosts) -> None:
    """Add-ons with backups; a few down, some backups failed and schedules missed: the dashboard's attention.

    The daily schedules ran (the control loop marks each day's run) but for every twentieth add-on's:
    on a running platform a missed schedule is the exception the dashboard points out."""
    from datetime import timedelta

    from django.utils import timezone

    from paas.platform.models import Addon, AddonAttachment, AddonBackup

    ran = (timezone.now() - timedelta(hours=1)).date()   # the day web/addons.py's attention looks at
    owners = apps[2::ADDON_EVERY]           # app-0007, the pages' app, among them
    addons = Addon.objects.bulk_create(
        Addon(name=f"{a.name}-pg", service="postgres", plan="hobby", app=a, host=hosts[i % HOSTS],
              state=Addon.DOWN if i % 40 == 0 else Addon.AVAILABLE, server_state="up", backup_at="00:00",
              backup_last_day=None if i % 20 == 1 else ran)
        for i, a in enumerate(owners))
    AddonAttachment.objects.bulk_create(AddonAttachment(addon=d, app=d.app, name="DATABASE", bound=True)
                                        for d in addons)
    AddonBackup.objects.bulk_create(
        AddonBackup(app=d.app, addon=d, addon_name=d.name, number=n, scheduled=True, size_bytes=1 << 20,
                    state=AddonBackup.FAILED if (i + n) % 17 == 0 else AddonBackup.VERIFIED)
        for i, d in enumerate(addons) for n in range(1, BACKUPS_EACH + 1))


def pages() -> dict[str, list[str]]:
    from paas.platform.models import Build

    build = Build.objects.filter(app__name="app-0007").values_list("uuid", flat=True).first()
    app_pages = ["/console/apps/app-0007/", f"/console/apps/app-0007/builds/{build}/", "/console/apps/app-0007/logs/"]
    common = ["/console/", "/console/apps/", "/console/apps/?q=app-00", "/console/apps/?state=crashed",
              "/console/events/", "/console/events/?app=app-0007", "/console/teams/", "/console/tokens/", *app_pages]
    return {
        "admin": common + ["/console/hosts/", "/console/hosts/?host=host-007", "/console/users/",
                           "/console/events/?who=user-7&action=release."],
        MEMBER: common,
        "peer": ["/admin/platform/app/", "/admin/platform/instance/", "/admin/platform/event/",
                 "/admin/platform/host/", "/admin/platform/app/?q=app-00"],
    }


def backend_cpu_reader():
    """A function giving the CPU time (ns) the PostgreSQL backend of Django's connection has used so far, from
    /proc (PostgreSQL on this machine), or None when that backend's /proc entry cannot be read."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        path = Path(f"/proc/{cursor.fetchone()[0]}/schedstat")

    def used() -> int | None:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    return used


def in_process(who: str, urls: list[str]) -> dict[str, tuple[int, float, float | None]]:
    """Per page, through the same views and middleware in this process: its SQL queries, and the median CPU
    time of the Django code (this thread) and of the PostgreSQL backend answering it, over CPU_ROUNDS
    requests taken in turn with the other pages'. CPU time, unlike the HTTP timings, barely moves with
    the machine's load: it says where a page's server time goes."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="admin" if who == "peer" else who))
    counts, django_ms, postgres_ms = {}, {url: [] for url in urls}, {url: [] for url in urls}
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            status = client.get(url).status_code
        if status != 200:
            raise RuntimeError(f"{who} {url}: HTTP {status}")
        counts[url] = len(queries)
    backend = backend_cpu_reader()
    for _ in range(CPU_ROUNDS):
        for url in urls:
            backend_before, before = backend(), time.thread_time_ns()
            client.get(url)
            spent, backend_after = time.thread_time_ns() - before, backend()
            django_ms[url].append(spent / 1e6)
            if backend_before is not None and backend_after is not None:
                postgres_ms[url].append((backend_after - backend_before) / 1e6)
    return {url: (counts[url], statistics.median(django_ms[url]),
                  statistics.median(postgres_ms[url]) if postgres_ms[url] else None) for url in urls}


def session_cookie(username: str) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "paas.platform.actions.login_throttle.ThrottledModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_ms(port: int, cookie: str, url: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        started = time.perf_counter()
        conn.request("GET", url, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}")
    return elapsed


def start_server(port: int) -> subprocess.Popen:
    from paas.platform import api_server

    env = {**os.environ, "PAAS_DATA_DIR": tempfile.mkdtemp(prefix="paas-bench-"), "PYTHONSAFEPATH": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    child = subprocess.Popen(api_server.argv("127.0.0.1", port, 1), env=env, cwd=env["PAAS_DATA_DIR"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError("the API server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return child
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the API server did not listen")


def time_pages(port: int, who: str, urls: list[str]) -> dict[str, list[float]]:
    cookie = session_cookie("admin" if who == "peer" else who)
    for url in urls:
        get_ms(port, cookie, url)  # warm-up: templates compiled, connections open
    return {url: [get_ms(port, cookie, url) for _ in range(SAMPLES)] for url in urls}


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def work() -> int:
    started = time.perf_counter()
    seed()
    print(f"seeded {APPS} apps, {HOSTS} hosts, {INSTANCES} instances, {EVENTS} events "
          f"in {time.perf_counter() - started:.0f} s")
    everything = pages()
    measured = {who: in_process(who, urls) for who, urls in everything.items()}
    queries = {who: {url: m[0] for url, m in by_url.items()} for who, by_url in measured.items()}
    port = free_port()
    child = start_server(port)
    try:
        timings = {who: time_pages(port, who, urls) for who, urls in everything.items()}
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=20)
    print("HTTP: p50/p95 of each page's requests; in process: its queries and the median CPU ms of Django and "
          "of PostgreSQL per request")
    print(f"{'who':8} {'page':48} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'django':>7} {'pg':>6}")
    for who, by_url in timings.items():
        for url, samples in by_url.items():
            count, django_ms, postgres_ms = measured[who][url]
            pg = "n/a" if postgres_ms is None else f"{postgres_ms:.1f}"
            print(f"{who:8} {url[:48]:48} {statistics.median(samples):8.1f} {p95(samples):8.1f} "
                  f"{count:8d} {django_ms:7.1f} {pg:>6}")
    console_cpu = [measured[who][url] for who in ("admin", MEMBER) for url in measured[who]]
    print(f"console CPU per round of its {len(console_cpu)} pages: Django {sum(m[1] for m in console_cpu):.0f} ms, "
          f"PostgreSQL {sum(m[2] or 0 for m in console_cpu):.0f} ms")
    console = [s for who in ("admin", MEMBER) for s in timings[who].values()]
    worst_page = max(p95(samples) for samples in console)
    all_console = [ms for samples in console for ms in samples]
    all_peer = [ms for samples in timings["peer"].values() for ms in samples]
    print(f"console: p95 over every page's requests {p95(all_console):.1f} ms (the worst page's own p95 "
          f"{worst_page:.1f} ms)")
    print(f"peer (Django admin over the same rows): p95 {p95(all_peer):.1f} ms, "
          f"queries max {max(queries['peer'].values())}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"RESULT console_p95_ms {p95(all_console):.1f} <= 100")
    print(f"RESULT console_queries_max {max(n for who in ('admin', MEMBER) for n in queries[who].values())} <= 20")
    return 0


def main() -> int:
    try:
        return scratch_database()(work)
    except RuntimeError as error:
        print(f"invalid round: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
