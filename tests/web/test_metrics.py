"""An app's metrics page: the API's handler answers from a real paas-logs; charts in a real browser."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from paas.logcenter import schema
from paas.platform.models import App
from tests.waiting import wait_for
from tests.web.browser import log_in, shoot

pytestmark = pytest.mark.usefixtures("own_redis_keys")


def serve_traffic(client, app: App) -> None:
    """Twenty minutes of app history: v1 deployed 15 minutes ago, v2 8 minutes ago, router lines of both."""
    now = timezone.now()
    App.objects.filter(pk=app.pk).update(created_at=now - timedelta(minutes=20))
    for version, ago in ((1, 15), (2, 8)):
        app.releases.filter(version=version).update(created_at=now - timedelta(minutes=ago))
    for ago in range(14, -1, -1):
        release = "v1" if ago > 7 else "v2"
        at = (now - timedelta(minutes=ago)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        for i in range(3):
            status = 500 if (release == "v2" and i == 0) else 200
            line = (f'at=info method=GET path="/p{i}" host={app.name}.localhost request_id=m{ago}-{i} '
                    f'fwd="10.0.0.1" instance={app.name}-{release}-web-1-abc123 duration={10 * (i + 1) + ago}ms '
                    f"status={status} bytes=5")
            client.xadd(schema.stream_key(django_settings.PAAS_REDIS_PREFIX, app.name),
                        schema.entry(app=app.name, source="router", line=line, release=release, ts=at))


def counted(client_, app: str, *requests: int):
    """The page's body once it shows each of ``requests`` (per release): the ingest stores lines in batches."""
    response = client_.get(f"/console/apps/{app}/metrics/?since=1h")
    body = response.content.decode()
    return response.status_code == 200 and all(f"<td>{n}</td>" in body for n in requests) and body


def test_metrics_page_charts_the_apis_answer_with_deploys(alice_app, alice_client, bob_client, paas_logs):
    _, client = paas_logs
    serve_traffic(client, alice_app)
    # Both releases' counts: a page polled between two of the ingest's batches shows one release whole.
    body = wait_for(lambda: counted(alice_client, "alice-app", 21, 24), 30, "the router lines counted")
    assert "<td>24</td>" in body                       # v1: 7 minutes of 3 requests; v2: 8 minutes of 3
    for chart in ("requests_per_s", "p50_ms", "p95_ms", "p99_ms", "error_rate"):
        assert f'id="chart-{chart}"' in body
    deploys = alice_app.releases.count()              # every release of the fixture is within the hour
    assert body.count('class="deploy"') == 5 * deploys and ">v2 web<" in body
    assert bob_client.get("/console/apps/alice-app/metrics/").status_code == 403


@pytest.mark.parametrize("query, problem", [("release=3", "release: wants"), ("since=10m&until=1h", "after until"),
                                            ("since=90d", "at most 7 days")])
def test_bad_ranges_name_the_problem_on_the_page(alice_app, alice_client, paas_logs, query, problem):
    response = alice_client.get(f"/console/apps/alice-app/metrics/?{query}")
    assert response.status_code == 400 and problem in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_without_the_log_center_the_page_says_so(alice_app, alice_client, tmp_path, monkeypatch):
    from paas.logcenter import settings as logcenter_settings

    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path))       # no paas-logs listens there
    logcenter_settings.current.cache_clear()
    try:
        response = alice_client.get("/console/apps/alice-app/metrics/")
    finally:
        logcenter_settings.current.cache_clear()
    assert response.status_code == 503 and 'id="metrics-error"' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_metrics_charts_in_the_browser(alice, alice_app, alice_client, paas_logs, console_page):
    _, client = paas_logs
    serve_traffic(client, alice_app)
    wait_for(lambda: counted(alice_client, "alice-app", 21, 24), 30, "the router lines counted")
    page = console_page
    log_in(page, "alice")
    page.goto(page.base + "/console/apps/alice-app/")
    page.click("a:has-text('metrics')")
    page.wait_for_selector("#chart-p95_ms svg polyline")
    assert page.locator("#chart-p95_ms .legend").inner_text().split() == ["v1", "web", "v2", "web"]
    shoot(page, "metrics")
