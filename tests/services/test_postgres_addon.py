"""A PostgreSQL add-on end to end on one host: the real agent starts its server on a persistent
volume, binding sets DATABASE_URL, the attached app's one-off connects and writes rows, another
app's cannot connect, the data survives a restart, and destroying it removes the volume."""

import http.server
import io
import os
import tarfile
import tempfile
import threading
import uuid

import pytest
import redis as redis_lib
from django.contrib.auth import get_user_model
from django.utils import timezone

from paas.platform.hostagent import DjangoControlPlane
from paas.runtime import addonnet, config, images, volumes
from paas.runtime.agent import Agent, HostInfo
from paas.runtime.container import release

from tests.runtime.conftest import wait_for
from tests.services.fixtures import app_with_slug

# The one-off's command: connect (3 s at most) and write a row; its exit code is the answer.
PSQL = ('PGCONNECT_TIMEOUT=3 psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -tAc '
        '"CREATE TABLE IF NOT EXISTS hits (n int); INSERT INTO hits VALUES (1); SELECT count(*) FROM hits"')


@pytest.fixture
def slug(tmp_path):
    path = tmp_path / "slug.tar"
    with tarfile.open(path, "w") as tar:
        data = b"placeholder\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return images.put(path, stack="host", process_types={"web": "sleep 600"})


@pytest.fixture
def world(db, slug):
    from paas.platform.models import Addon, Host, Instance

    suffix = uuid.uuid4().hex[:8]
    user = get_user_model().objects.create_user(f"svc-{suffix}", f"s-{suffix}@example.com", "pw-pw-pw-pw")
    host = Host.objects.create(name=f"svc-host-{suffix}", address="127.0.0.1", memory_mb=4096, cpus=2,
                               last_heartbeat=timezone.now(), stacks=["host"])
    Host.objects.exclude(pk=host.pk).update(state=Host.DOWN)  # place on this test's host

    apps = (app_with_slug(user, f"svc-a-{suffix}", slug), app_with_slug(user, f"svc-b-{suffix}", slug))
    client = redis_lib.Redis.from_url(config.redis_url())
    agent = Agent(DjangoControlPlane(), HostInfo(host.name, "127.0.0.1", 4096, 2), client, stop_grace=2)
    agent.start_up()
    yield user, host, apps, agent
    for instance in Instance.objects.filter(app__in=apps):
        release(instance.name)
    for addon in Addon.objects.filter(app__in=apps):
        release(addon.name)
        volumes.remove(addon.name)
    addonnet.remove()


def one_off(agent, app, command) -> int:
    """Run `command` as a one-off of `app` on its latest release through the agent; its exit code."""
    from paas.platform.models import Instance

    inst = Instance.objects.create(name=f"{app.name}-run-{uuid.uuid4().hex[:6]}", app=app,
                                   release=app.latest_release(), process_type="run", number=1, command=command,
                                   size="small", memory_mb=128, cpus=0.5, host=agent_host(agent),
                                   kind=Instance.ONEOFF)

    def ended():
        agent.reconcile_once()
        inst.refresh_from_db()
        return inst.desired_state == Instance.STOP and inst.exit_code is not None

    wait_for(ended, timeout=30, what=f"one-off of {app.name}")
    if inst.exit_code:  # what it said, for the assertion's reader
        from paas.runtime import logs
        lines = [e[b"line"].decode() for _, e in agent.redis.xrange(logs.stream_key(app.name))[-4:]]
        print(f"{inst.name} exited {inst.exit_code}:", *lines, sep="\n  ")
    return inst.exit_code


def agent_host(agent):
    from paas.platform.models import Host

    return Host.objects.get(name=agent.host.name)


def available(agent, addon, timeout: float = 90):
    from paas.services.settle import settle

    def up():
        agent.reconcile_once()
        settle()
        addon.refresh_from_db()
        return addon.state == "available" and all(a.bound for a in addon.attachments.all())

    wait_for(up, timeout=timeout, interval=0.2, what=f"{addon.name} available")


def test_postgres_addon_serves_its_app_only_and_keeps_its_data(world):
    from paas.platform.actions.config import change_config
    from paas.platform.models import Addon
    from paas.services import broker
    from paas.services.probe import answers

    user, host, (app, other), agent = world
    addon = broker.provision(user, app, "postgres")
    assert addon.host_id == host.pk and addon.state == "provisioning"
    available(agent, addon)
    url = app.latest_release().config.values["DATABASE_URL"]
    assert url.startswith("postgres://") and addon.credentials["password"] in url
    assert volumes.is_mounted(addon.name)

    assert one_off(agent, app, PSQL) == 0
    # Settings that demand TLS connect, and the certificate is the platform CA's.
    from paas.pki import authority as pki
    ca = tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False)
    ca.write(pki.ca_pem())
    ca.close()
    os.chmod(ca.name, 0o644)
    addon.refresh_from_db()
    import psycopg2
    with psycopg2.connect(host=addon.address, port=5432, user=addon.credentials["user"], sslmode="verify-ca",
                          sslrootcert=ca.name, password=addon.credentials["password"],
                          dbname=addon.credentials["database"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cursor.fetchone() == (True,)
    os.unlink(ca.name)
    assert one_off(agent, app, PSQL.replace('"$DATABASE_URL"', '"$DATABASE_URL?sslmode=require"')) == 0
    from paas.services import stats
    info = stats.postgres(Addon.objects.get(pk=addon.pk))
    assert info["tables"] == 1 and info["version"] and info["disk_bytes"] == 1 << 30

    # The same URL in another app's config reaches nothing: it is not attached.
    change_config(user, other, {"DATABASE_URL": url})
    assert one_off(agent, other, PSQL) != 0
    # Nor does the attached app itself reach the server's own address (only the host's rule does).
    direct = url.replace(f"@{addonnet.gateway()}:{addon.host_port}/", f"@{addon.address}:5432/")
    assert one_off(agent, app, PSQL.replace('"$DATABASE_URL"', f"'{direct}'")) != 0

    # A crash (the server killed) restarts it with its data.
    from paas.runtime.container import Container
    Container.load(addon.name).stop(grace=0)
    available(agent, addon)
    wait_for(lambda: (agent.reconcile_once(), answers(Addon.objects.get(pk=addon.pk)))[1],
             timeout=60, interval=0.2, what="server answering again")
    assert one_off(agent, app, PSQL) == 0  # the second row: the table was kept

    broker.deprovision(user, addon, confirm=app.name)
    assert "DATABASE_URL" not in app.latest_release().config.values
    wait_for(lambda: (agent.reconcile_once(), not Addon.objects.filter(pk=addon.pk).exists())[1],
             timeout=30, what="add-on removed")
    assert not volumes.exists(addon.name)


def incr_is(n: int) -> str:
    return f'[ "$(redis-cli --no-auth-warning -u "$REDIS_URL" incr hits)" = {n} ]'


def tls_incr_is(n: int) -> str:
    # No --cacert: the platform's CA is in the trust bundle every instance has (runtime/trust.py).
    return f'[ "$(redis-cli --no-auth-warning --tls -u "$REDIS_TLS_URL" incr hits)" = {n} ]'


def test_redis_addon_keeps_its_append_only_file_across_a_crash(world):
    from paas.platform.models import Addon
    from paas.runtime.container import Container
    from paas.services import broker
    from paas.services.probe import answers

    user, host, (app, other), agent = world
    addon = broker.provision(user, app, "redis")
    available(agent, addon)
    values = app.latest_release().config.values
    assert values["REDIS_URL"].startswith("redis://default:")
    addon.refresh_from_db()
    assert values["REDIS_TLS_URL"] == values["REDIS_URL"].replace("redis://", "rediss://").replace(
        f":{addon.host_port}/", f":{addon.tls_host_port}/")
    assert one_off(agent, app, incr_is(1)) == 0
    # The TLS port, verified against the platform's CA (the certificate names the address apps use),
    # which the app's container trusts with nothing handed to it.
    assert one_off(agent, app, tls_incr_is(2)) == 0
    Container.load(addon.name).stop(grace=0)
    wait_for(lambda: (agent.reconcile_once(), answers(Addon.objects.get(pk=addon.pk)))[1],
             timeout=60, interval=0.2, what="redis answering again")
    assert one_off(agent, app, incr_is(3)) == 0  # the first INCRs came back from the AOF
    # Another app with the URLs in its config gets no connection, plain or TLS.
    from paas.platform.actions.config import change_config
    change_config(user, other, {name: values[name] for name in ("REDIS_URL", "REDIS_TLS_URL")})
    assert one_off(agent, other, 'timeout 5 redis-cli --no-auth-warning -u "$REDIS_URL" incr hits') != 0
    assert one_off(agent, other, 'timeout 5 redis-cli --no-auth-warning --tls --insecure -u "$REDIS_TLS_URL" '
                                 'incr hits') != 0


def test_backup_is_verified_restores_into_another_app_only_for_its_members_and_alerts_when_failed(
        world, settings, tmp_path, django_capture_on_commit_callbacks):
    import psycopg2
    from django.contrib.auth import get_user_model

    from paas.platform.exceptions import Forbidden, NotFound
    from paas.platform.models import AddonBackup, App
    from paas.services import backups, broker
    from paas.services.probe import server_url

    user, host, (app, other), agent = world
    source = broker.provision(user, app, "postgres")
    target = broker.provision(user, other, "postgres")
    available(agent, source)
    available(agent, target)
    assert one_off(agent, app, PSQL) == 0
    assert one_off(agent, app, PSQL) == 0

    captured = backups.capture(user, app)
    assert backups.run(captured.pk) == "verified", AddonBackup.objects.get(pk=captured.pk).message
    captured.refresh_from_db()
    assert captured.counts == {"public.hits": 2} and captured.size_bytes > 0
    path = backups.file_of(captured)
    assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    # Someone outside the app cannot restore its backup into their own app.
    stranger = get_user_model().objects.create_user(f"x-{app.name}", "x@example.com", "pw-pw-pw-pw")
    theirs = App.objects.create(name=f"x-{app.name}"[:30], owner=stranger, stack="host")
    try:
        backups.restore(stranger, theirs, captured.label, from_app=app.name)
        raise AssertionError("restored another team's backup")
    except (NotFound, Forbidden) as refused:
        assert app.name in refused.message
    assert not AddonBackup.objects.filter(app=theirs).exists()

    restored = backups.restore(user, other, None, from_app=app.name)
    assert backups.run(restored.pk) == "succeeded", AddonBackup.objects.get(pk=restored.pk).message
    target.refresh_from_db()
    with psycopg2.connect(server_url(target)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*), current_user FROM hits")
        assert cursor.fetchone()[0] == 2
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'hits'")
        assert cursor.fetchone()[0] == target.credentials["user"]  # the app's own role owns it
    # The restored app writes through its own URL.
    assert one_off(agent, other, PSQL) == 0
    backups.file_of(captured).unlink()
    a_failed_backup_fires_the_apps_backup_alert(user, app, source, settings, tmp_path,
                                                django_capture_on_commit_callbacks)


def test_rotation_revokes_the_old_login_only_once_the_new_url_is_live(world):
    import psycopg2

    from paas.platform.models import Addon, Release
    from paas.services import broker
    from paas.services.rotation import rotate
    from paas.services.settle import settle

    user, host, (app, other), agent = world
    addon = broker.provision(user, app, "postgres")
    available(agent, addon)
    Release.objects.filter(app=app).update(status="succeeded")  # the app serves the URL it has now
    addon.refresh_from_db()
    old = dict(addon.credentials)
    assert one_off(agent, app, PSQL) == 0

    def login(credentials) -> bool:
        try:
            psycopg2.connect(host=addon.address, port=5432, user=credentials["user"],
                             password=credentials["password"], dbname=credentials["database"],
                             connect_timeout=3).close()
            return True
        except psycopg2.OperationalError:
            return False

    started = Addon.objects.get(pk=addon.pk).started_at
    rotated = rotate(user, app)
    new = rotated.credentials
    assert new["user"] != old["user"] and new["owner"] == old["user"]
    assert app.latest_release().config.values["DATABASE_URL"].startswith(f"postgres://{new['user']}:")
    settle()
    assert login(old) and login(new)  # the new release is not live yet: both work

    Release.objects.filter(pk=app.latest_release().pk).update(status="succeeded")
    settle()
    assert not login(old) and login(new)
    assert "retiring" not in Addon.objects.get(pk=addon.pk).credentials
    assert one_off(agent, app, PSQL) == 0  # the new login writes the owner's table (SET role)
    # The server kept running throughout: a rotation changes no setting of it.
    assert Addon.objects.get(pk=addon.pk).started_at == started


# A dump that does not restore: a CHECK calls a function whose body names a table without its schema,
# which a restore (search_path '') cannot find. pg_dump takes it; only the scratch restore shows it.
UNRESTORABLE = """CREATE TABLE b (y int); INSERT INTO b VALUES (1);
CREATE FUNCTION has_b(int) RETURNS boolean LANGUAGE sql AS 'SELECT EXISTS (SELECT 1 FROM b WHERE y = $1)';
CREATE TABLE a (x int CHECK (has_b(x))); INSERT INTO a VALUES (1);"""


def a_failed_backup_fires_the_apps_backup_alert(user, app, addon, settings, tmp_path, on_commit) -> None:
    """A real capture whose scratch restore fails: an event, a line in the app's log, and the platform's
    alert on backups, ingested and checked as paas-logs does, POSTed to the webhook of the app's alert."""
    import psycopg2

    from paas.logcenter.alerts import alerts_key
    from paas.logcenter.ingest import Ingest
    from paas.logcenter.service import Service
    from paas.logcenter.settings import Settings
    from paas.platform.models import AddonBackup, Event, LogAlert
    from paas.services import backup_alert, backups
    from paas.services.probe import server_url
    from tests.logcenter.test_alerts import Hook

    settings.PAAS_REDIS_PREFIX = prefix = f"t{os.getpid()}-{uuid.uuid4().hex[:8]}:"  # this test's log streams
    with psycopg2.connect(server_url(addon)) as connection, connection.cursor() as cursor:
        cursor.execute(UNRESTORABLE)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    hook.posts, hook.up = [], True
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    client = redis_lib.Redis.from_url(config.redis_url())
    service = Service(Settings(data_dir=tmp_path, store_dir=tmp_path / "store", socket_path=tmp_path / "s.sock",
                               redis_url=config.redis_url(), redis_prefix=prefix, rate_limit=100, retention_days=30,
                               consumer="t", drain_allow="127.0.0.0/8"))
    try:
        with on_commit(execute=True):  # the owner's own alert names a webhook
            LogAlert.objects.create(app=app, name="errors", query="error", above=1000, per_s=300,
                                    webhook=f"http://127.0.0.1:{hook.server_port}/hook")
        captured = backups.capture(user, app)
        with on_commit(execute=True):  # the event's line in the app's log
            assert backups.run(captured.pk) == AddonBackup.FAILED
        message = AddonBackup.objects.get(pk=captured.pk).message
        assert "scratch restore failed" in message and "does not exist" in message, message
        assert Event.objects.filter(app=app, action="backup.failed", message__contains=backup_alert.TAG).exists()

        # An app's own line saying the same is not the platform's: it does not count.
        from paas.logcenter import schema
        from paas.platform.logs import stream_key

        client.xadd(stream_key(app.name), schema.entry(app=app.name, process="web.1", source="app",
                                                        line=f"{backup_alert.TAG} forged by the app"))
        # paas-logs' side, as it runs: the app's stream ingested into a store, the published rules checked.
        ingest = Ingest(client, service.intake.accept, prefix, "t")
        while ingest.run_once(block_ms=50):
            ingest._discovered = 0.0
        service.alerts.sync(client.hgetall(alerts_key(prefix)))
        service.alerts.check(service.count)
        fired = [p for p in hook.posts if p["alert"] == backup_alert.NAME]
        assert [(p["state"], p["app"], p["count"]) for p in fired] == [("firing", app.name, 1)], hook.posts
        assert [s["firing"] for s in service.alerts.status(app.name) if s["name"] == backup_alert.NAME] == [True]
    finally:
        hook.shutdown()
        hook.server_close()
        service.drains.stop()
        service.store.close()
        backups.file_of(captured).unlink(missing_ok=True)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)


def test_a_postgres_addon_on_a_debian_stack_runs_that_suites_server_and_backs_up_with_it(world, forky_stack):
    from paas.platform.models import AddonBackup, Host
    from paas.services import backups, broker, serverpackages, stats

    user, host, (app, other), agent = world
    Host.objects.filter(pk=host.pk).update(stacks=["host", forky_stack])
    app.stack = forky_stack
    app.save(update_fields=["stack"])
    # Made once per host and stack (apt downloads; kept with the test stacks): the agent would make it
    # in the background on the server's first start, here it is made before the clock starts.
    assert serverpackages.ensure(forky_stack, "postgres") is not None
    suite_version = serverpackages.version(forky_stack, "postgres")
    assert suite_version and suite_version != serverpackages.version("host", "postgres")
    layer = serverpackages.layer_dir(forky_stack, "postgres")  # the platform's: root's, nothing setuid
    assert all(p.lstat().st_uid == 0 and not p.lstat().st_mode & 0o6000 for p in layer.rglob("*"))

    addon = broker.provision(user, app, "postgres")
    assert addon.stack == forky_stack
    available(agent, addon)
    addon.refresh_from_db()
    assert stats.postgres(addon)["version"].split(".")[0] == suite_version  # the suite's, not the host's
    assert one_off(agent, app, PSQL) == 0
    captured = backups.capture(user, app)
    try:  # dumped and verified by the server's own version (the host's pg_dump refuses a newer server)
        assert backups.run(captured.pk) == "verified", AddonBackup.objects.get(pk=captured.pk).message
        assert AddonBackup.objects.get(pk=captured.pk).counts == {"public.hits": 1}
    finally:
        backups.file_of(captured).unlink(missing_ok=True)

    # Redis too: the suite's redis-server (the host's is another build), its layer made by the agent itself.
    cache = broker.provision(user, app, "redis")
    assert cache.stack == forky_stack
    available(agent, cache, timeout=300)
    cache.refresh_from_db()
    assert stats.redis(cache)["version"] and serverpackages.layers(forky_stack, "redis")
