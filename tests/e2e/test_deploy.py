"""From git push to a page served through the router, with every real process running."""

import urllib.request
import uuid

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import change_config
from paas.platform.models import Instance, Release
from tests.waiting import wait_for

WEB_APP = {
    "Procfile": "web: python3 -u server.py\n",
    "server.py": (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = (os.environ.get('GREETING', 'hello') + ' from ' + os.environ['DYNO']).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "print('listening on', os.environ['PORT'], flush=True)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    ),
}


def fetch(port: int, host: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=40) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError:
        return 0, ""


@pytest.fixture
def app(pusher, agent_host):
    return create_app(pusher.user, f"web-{uuid.uuid4().hex[:8]}")


def route_entry(app_name: str) -> dict:
    import json

    from paas.platform.redis_client import get_redis

    from django.conf import settings

    raw = get_redis().get(f"{settings.PAAS_REDIS_PREFIX}router:app:{app_name}")
    return json.loads(raw) if raw else {}


def release_status(app, version):
    return Release.objects.get(app=app, version=version).status


def test_push_then_served_through_the_router(pusher, app, platform_env, tmp_path):
    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    status, body = wait_for(lambda: (r := fetch(port, host))[0] == 200 and r, 15, "the router to serve the app")
    assert body == "hello from web.1"

    change_config(pusher.user, app, {"GREETING": "bonjour"})
    wait_for(lambda: release_status(app, 3) == "succeeded", 60, "v3 (config change) to be live")
    wait_for(lambda: fetch(port, host) == (200, "bonjour from web.1"), 15, "the new config to be served")
    wait_for(lambda: not Instance.objects.filter(app=app, release__version=2, desired_state="running").exists(),
             10, "the old release's instances to stop once drained")


def test_unknown_host_gets_the_routers_404(platform_env, agent_host):
    status, body = fetch(int(platform_env["PAAS_ROUTER_PORT"]), "nothing-here.localhost")
    assert status == 404


def test_a_crashing_release_keeps_the_old_one_serving(pusher, app, platform_env, tmp_path):
    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    (repo / "Procfile").write_text("web: python3 -c 'import sys; print(\"boom at start\"); sys.exit(3)'\n")
    pusher.git(repo, "commit", "-qam", "broken")
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "v3 did not go live: web.1 exited with code 3 while starting" in result.stderr
    assert "web.1: boom at start" in result.stderr  # the app's own output, in the push
    assert release_status(app, 3) == "failed"
    assert "exited with code 3" in Release.objects.get(app=app, version=3).status_message
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    assert fetch(port, host) == (200, "hello from web.1")


def test_logs_and_maintenance_mode(pusher, app, platform_env, tmp_path):
    from tests.platform.accounts import ApiClient

    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    wait_for(lambda: fetch(port, host)[0] == 200, 15, "the app to be served")
    client = ApiClient(pusher.token)

    def sources():
        rows = client.get(f"/api/apps/{app.name}/logs?lines=200").json_body["lines"]
        return {row["source"] for row in rows} >= {"app", "router", "platform"} and rows

    rows = wait_for(sources, 15, "app, router and platform lines in the log")
    assert any(r["source"] == "app" and r["line"] == "listening on 5000" and r["process"] == "web.1" for r in rows)
    assert any(r["source"] == "platform" and "v2 is live" in r["line"] for r in rows)
    only_router = client.get(f"/api/apps/{app.name}/logs?source=router").json_body["lines"]
    assert only_router and all(r["source"] == "router" for r in only_router)
    cursor = client.get(f"/api/apps/{app.name}/logs?lines=1").json_body["cursor"]
    fetch(port, host)
    newer = client.get(f"/api/apps/{app.name}/logs?after={cursor}&wait=5").json_body
    assert newer["lines"] and newer["cursor"] != cursor
    assert client.get(f"/api/apps/{app.name}/logs?after=garbage").status_code == 400

    assert client.call("put", f"/api/apps/{app.name}/maintenance", {"enabled": True}).status_code == 200
    wait_for(lambda: fetch(port, host)[0] == 503, 10, "the maintenance page")
    client.call("put", f"/api/apps/{app.name}/maintenance", {"enabled": False})
    wait_for(lambda: fetch(port, host)[0] == 200, 10, "the app again")


def test_a_live_web_app_cannot_lose_its_web_process(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    (repo / "Procfile").write_text("worker: python3 server.py\n")
    pusher.git(repo, "commit", "-qam", "no web")
    result = pusher.push(repo)
    assert result.returncode != 0 and "web" in result.stderr
    assert Release.objects.filter(app=app).count() == 2


def test_scale_restart_stop_and_start(pusher, app, platform_env, tmp_path):
    from paas.platform.actions.formation import restart, scale, set_stopped

    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    scale(pusher.user, app, {"web": {"quantity": 2}})
    running = lambda: Instance.objects.filter(app=app, desired_state="running")  # noqa: E731
    wait_for(lambda: running().filter(state="up").count() == 2, 30, "two web instances up")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    bodies = wait_for(lambda: (b := {fetch(port, host)[1] for _ in range(12)}) >= {"hello from web.1", "hello from web.2"}
                      and b, 15, "both instances behind the router")
    assert bodies == {"hello from web.1", "hello from web.2"}

    before = set(running().values_list("pk", flat=True))
    restart(pusher.user, app)
    wait_for(lambda: not (set(running().values_list("pk", flat=True)) & before)
             and running().filter(state="up").count() == 2, 60, "a rolling restart")
    assert fetch(port, host)[0] == 200

    set_stopped(pusher.user, app, "web", True)
    wait_for(lambda: not running().exists(), 30, "ps:stop")
    wait_for(lambda: fetch(port, host)[0] == 503, 10, "no backends: 503")
    set_stopped(pusher.user, app, "web", False)
    wait_for(lambda: running().filter(state="up").count() == 2, 30, "ps:start")


def test_scale_to_zero_and_wake_on_request(pusher, app, platform_env, tmp_path):
    from paas.platform.actions.autoscale import set_autoscale
    from paas.platform.models import Formation

    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    set_autoscale(pusher.user, app, "web", {"min": 0, "max": 2})
    web = lambda: Formation.objects.get(app=app, process_type="web").quantity  # noqa: E731
    wait_for(lambda: web() == 0, 30, "the idle app to scale to zero")
    wait_for(lambda: not Instance.objects.filter(app=app, desired_state="running").exists(), 30, "instances to stop")
    wait_for(lambda: route_entry(app.name).get("scaled_to_zero"), 10, "the router table to say it sleeps")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    # The router holds the request while the app wakes; only the router's wake-up call scales it back to one.
    wait_for(lambda: fetch(port, host) == (200, "hello from web.1"), 60, "a request to wake the app")
    assert web() == 1


def test_traffic_through_the_router_scales_the_app_up(pusher, app, platform_env, tmp_path):
    """Router metrics (a snapshot per router node) -> the autoscaler -> a second instance, as an event."""
    from paas.platform.actions.autoscale import set_autoscale
    from paas.platform.models import Event, Formation

    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    set_autoscale(pusher.user, app, "web", {"min": 1, "max": 2, "target_rps": 1})
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    web = lambda: Formation.objects.get(app=app, process_type="web").quantity  # noqa: E731

    def busy_then_scaled() -> bool:
        for _ in range(20):  # well over 1 req/s averaged over the router's minute
            fetch(port, host)
        return web() == 2

    wait_for(busy_then_scaled, 60, "the autoscaler to add an instance", interval=0)
    assert Event.objects.filter(app=app, action="autoscale").exists()
    wait_for(lambda: Instance.objects.filter(app=app, desired_state="running", state="up").count() == 2, 60,
             "the second instance up")


def test_canary_split_promote_and_abort(pusher, app, platform_env, tmp_path):
    from paas.platform.actions.canary import abort_canary, promote_canary, start_canary
    from paas.platform.actions.formation import scale

    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    change_config(pusher.user, app, {"GREETING": "canary"})
    wait_for(lambda: release_status(app, 3) == "succeeded", 60, "v3 to be live")
    from paas.platform.actions.releases import rollback

    rollback(pusher.user, app, 2)  # v4 = v2's code and config, live again
    wait_for(lambda: release_status(app, 4) == "succeeded", 60, "v4 to be live")
    scale(pusher.user, app, {"web": {"quantity": 2}})
    start_canary(pusher.user, app, "v3", 50)
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    seen = wait_for(lambda: (b := {fetch(port, host)[1].split(" ")[0] for _ in range(20)}) >= {"hello", "canary"} and b,
                    40, "both the live release and the canary to answer")
    assert seen == {"hello", "canary"}
    abort_canary(pusher.user, app)
    wait_for(lambda: {fetch(port, host)[1].split(" ")[0] for _ in range(10)} == {"hello"}, 30, "the abort")
    start_canary(pusher.user, app, "v3", 10)
    promoted = promote_canary(pusher.user, app)
    wait_for(lambda: release_status(app, promoted.version) == "succeeded", 60, "the promoted release")
    wait_for(lambda: {fetch(port, host)[1].split(" ")[0] for _ in range(10)} == {"canary"}, 30, "all traffic on it")


def test_release_phase_runs_before_the_rollout_and_its_failure_aborts(pusher, app, platform_env, tmp_path):
    files = {**WEB_APP, "Procfile": "web: python3 -u server.py\nrelease: echo migrating && touch /tmp/done\n"}
    repo = pusher.repo(tmp_path / "src", files, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live after its release command")
    phase = Instance.objects.get(app=app, process_type="release", release__version=2)
    assert phase.exit_code == 0 and phase.kind == "oneoff"
    (repo / "Procfile").write_text("web: python3 -u server.py\nrelease: echo failing && exit 5\n")
    pusher.git(repo, "commit", "-qam", "bad migration")
    result = pusher.push(repo)
    assert result.returncode != 0 and "release command exited with code 5" in result.stderr
    assert "release.1: failing" in result.stderr
    assert "release command exited with code 5" in Release.objects.get(app=app, version=3).status_message
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    assert fetch(port, host) == (200, "hello from web.1")
    assert not Instance.objects.filter(app=app, release__version=3, process_type="web").exists()


def test_a_failing_health_check_keeps_the_new_release_from_traffic(pusher, app, platform_env, tmp_path):
    from paas.platform.actions.apps import set_health_check

    checked = dict(WEB_APP)
    checked["server.py"] = WEB_APP["server.py"].replace(
        "    def do_GET(self):\n",
        "    def do_GET(self):\n"
        "        if self.path == '/health' and os.environ.get('HEALTHY') != 'yes':\n"
        "            self.send_response(503); self.send_header('Content-Length', '0'); self.end_headers(); return\n")
    repo = pusher.repo(tmp_path / "src", checked, app.name)
    change_config(pusher.user, app, {"HEALTHY": "yes"})
    assert pusher.push(repo).returncode == 0  # v3: healthy
    set_health_check(pusher.user, app, "/health")
    change_config(pusher.user, app, {"HEALTHY": "no", "GREETING": "unhealthy"})  # v4 answers 503 on /health
    wait_for(lambda: release_status(app, 4) == "failed", 60, "v4 to fail its health check")
    assert "did not become healthy" in Release.objects.get(app=app, version=4).status_message
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    assert fetch(port, host) == (200, "hello from web.1")


def test_rolling_deploys_fail_no_request(pusher, app, platform_env, tmp_path):
    import threading

    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    assert pusher.push(repo).returncode == 0
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    wait_for(lambda: fetch(port, host)[0] == 200, 30, "v2 to be served")
    results, stop = [], threading.Event()

    def steady_client():
        while not stop.is_set():
            results.append(fetch(port, host))

    client = threading.Thread(target=steady_client)
    client.start()
    try:
        for n, greeting in enumerate(("one", "two"), start=3):
            change_config(pusher.user, app, {"GREETING": greeting})
            wait_for(lambda: release_status(app, n) == "succeeded", 60, f"v{n} to be live")
            wait_for(lambda: not Instance.objects.filter(app=app, desired_state="running").exclude(
                release__version=n).exists(), 15, f"the instances before v{n} to stop")
            wait_for(lambda: fetch(port, host) == (200, f"{greeting} from web.1"), 15, f"v{n} served")
    finally:
        stop.set()
        client.join()
    failed = [r for r in results if r[0] != 200]
    assert len(results) > 20 and failed == []
