"""The console in a real browser (Debian's chromium through Playwright), at a desktop and a phone width.

Every page is visited, a screenshot of each saved under the run's output (browser.output_dir),
and the things people do there are done with the mouse and keyboard: log in, read an app's state,
reveal and edit config, roll back, scale, tail and search logs, cordon a host, create a token.
"""

import os
import re

import pytest

from paas.platform.logs import write_platform_line
from paas.platform.models import App, Autoscale, Domain, Formation, Host
from tests.security.test_domains import dns_server
from tests.web.browser import log_in, output_dir, shoot
from tests.web.fixtures import heartbeat

pytestmark = [pytest.mark.usefixtures("own_redis_keys"), pytest.mark.django_db(transaction=True)]


def test_admin_runs_the_platform_from_the_console(root, alice_app, bob_app, console_page, settings):
    page = console_page
    log_in(page, "root-admin")
    assert page.locator("text=Platform health").is_visible()
    assert page.locator(".host-head >> text=host-one").is_visible()
    shoot(page, "dashboard")

    page.goto(page.base + "/console/apps/?q=alice")
    assert page.locator("table.apps >> text=alice-app").is_visible()
    assert page.locator("table.apps >> text=bob-app").count() == 0
    shoot(page, "apps")

    page.click("text=alice-app")
    page.wait_for_url(re.compile(r".*/console/apps/alice-app/$"))
    assert page.locator("#live-release").inner_text() == "v2"
    assert "s3cr3t" not in page.content()
    shoot(page, "app")

    page.click("button.reveal")
    page.wait_for_selector("td.value >> text=s3cr3t-value-of-alice-app")

    page.fill("#config form.stack input[name=key]", "GREETING")
    page.fill("#config textarea[name=value]", "hello")
    page.click("#config button:has-text('Set (new release)')")
    page.wait_for_selector(".messages >> text=Set GREETING config var")
    assert App.objects.get(name="alice-app").releases.first().config.values["GREETING"] == "hello"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Roll back to v2')")
    page.wait_for_selector(".messages >> text=Rollback to v2")
    shoot(page, "app-after-rollback")

    page.fill("#scale input[name=quantity]", "2")
    page.click("#scale button:has-text('Scale web')")
    page.wait_for_selector(".messages >> text=web=2:small")
    assert Formation.objects.get(app__name="alice-app", process_type="web").quantity == 2

    autoscale_canary_and_domain(page, settings)

    page.click("#builds a")
    page.wait_for_selector("#build-output >> text=built")
    shoot(page, "build")

    heartbeat("host-one")   # this test outlives a host's 30 s of silence
    page.goto(page.base + "/console/hosts/?host=host-one")
    assert page.locator("text=Instances on host-one").is_visible()
    shoot(page, "hosts")
    page.once("dialog", lambda dialog: dialog.accept())
    # host-one's own button: other hosts may be listed first (a platform agent of this session
    # heartbeats its host back into the database).
    page.click("form[action='/console/hosts/host-one/cordon'] button")
    page.wait_for_selector(".messages >> text=Cordoned host-one")
    assert Host.objects.get(name="host-one").state == Host.DRAINING
    shoot(page, "hosts-cordoned")

    for name in ("users", "teams", "tokens", "events", "logs"):
        page.goto(f"{page.base}/console/{name}/")
        shoot(page, name)

    page.goto(page.base + "/console/tokens/")
    page.fill("input[name=description]", "from the browser")
    page.click("button:has-text('Create token')")
    assert page.locator("#new-token-secret").inner_text().startswith("paas_")


def autoscale_canary_and_domain(page, settings):
    """Autoscaling refused then set, a canary started and promoted, a domain added and verified now."""
    def fill_autoscale(low, high):
        page.fill("#autoscaling input[name=min]", low)
        page.fill("#autoscaling input[name=max]", high)
        page.fill("#autoscaling input[name=target_rps]", "25")
        page.click("#autoscaling button:has-text('Autoscale web')")

    fill_autoscale("5", "2")
    page.wait_for_selector(".messages >> text=min (5) is above max (2)")  # the API's refusal, nothing saved
    fill_autoscale("1", "4")
    page.wait_for_selector(".messages >> text=Autoscaling web: 1 to 4 instances")
    assert Autoscale.objects.get(app__name="alice-app").target_rps == 25
    page.fill("#canary input[name=percent]", "20")
    page.click("#canary button:has-text('Start canary')")
    page.wait_for_selector(".messages >> text=takes 20% of web traffic")
    shoot(page, "app-autoscaling-canary")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#canary button:has-text('Promote')")
    page.wait_for_selector(".messages >> text=Promote canary")

    page.fill("#domains input[name=hostname]", "www.alice.example")
    page.click("#domains button:has-text('Add domain')")
    page.wait_for_selector(".messages >> text=Added www.alice.example")
    domain = Domain.objects.get(hostname="www.alice.example")
    settings.PAAS_DNS_TIMEOUT_S = 0.5
    with dns_server(settings, {domain.record_name: domain.token}):
        page.click("#domains button:has-text('Verify now')")
        page.wait_for_selector(".messages >> text=www.alice.example is verified")
    shoot(page, "app-domain-verified")


def test_logs_tail_live_and_search_refusals_show(alice, alice_app, console_page):
    page = console_page
    log_in(page, "alice")
    assert page.locator("nav >> text=Hosts").count() == 0
    page.goto(page.base + "/console/apps/alice-app/logs/")
    write_platform_line("alice-app", "a line written while the page watches")
    page.wait_for_selector("#tail >> text=a line written while the page watches")
    shoot(page, "logs-tail")
    page.fill("input[name=q]", 'status:>=500 "unclosed')
    page.click("button:has-text('Search')")
    page.wait_for_selector(".error-message")
    shoot(page, "logs-search")


def test_a_user_is_refused_another_users_app(alice, alice_app, bob_app, console_page):
    page = console_page
    log_in(page, "alice")
    response = page.goto(page.base + "/console/apps/bob-app/")
    assert response.status == 403
    assert page.locator("text=do not have access").is_visible()
    shoot(page, "refused")
    assert os.path.exists(output_dir())


def test_https_section_uploads_refuses_and_switches(alice, alice_app, console_page, settings, tmp_path):
    """Certificates uploaded as files and refused when pasted wrong, automatic certificates, the redirect and
    HSTS: each through its form, each refusal the action's own message, nothing half-changed."""
    from django.utils import timezone

    from paas.platform.models import Certificate
    from tests.pki.certmaker import chain, key_pem, make, pem

    settings.PAAS_ACME_DIRECTORY = "https://acme.invalid/directory"
    Domain.objects.create(app=alice_app, hostname="www.alice.example", verified_at=timezone.now(),
                          verified_by=Domain.BY_DNS)
    root, middle, (leaf, key) = chain("www.alice.example")
    (tmp_path / "cert.pem").write_text(pem(leaf) + pem(middle[0]))
    (tmp_path / "key.pem").write_text(key_pem(key))
    page = console_page
    log_in(page, "alice")
    page.goto(page.base + "/console/apps/alice-app/#https")

    page.fill("#https textarea[name=certificate]", "-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    page.fill("#https textarea[name=key]", key_pem(key))
    page.click("#https button:has-text('Upload certificate')")
    page.wait_for_selector(".messages >> text=CERT is not a PEM certificate")
    assert not Certificate.objects.exists()

    page.set_input_files("#https input[name=certificate_file]", str(tmp_path / "cert.pem"))
    page.set_input_files("#https input[name=key_file]", str(tmp_path / "key.pem"))
    page.click("#https button:has-text('Upload certificate')")
    page.wait_for_selector(".messages >> text=Added certificate")
    cert = Certificate.objects.get()
    assert page.locator(f"#https table.certs >> text={cert.name}").is_visible()
    assert page.locator("#https table.certs >> text=in 89 days").is_visible()

    page.fill("#https textarea[name=certificate]", pem(leaf))
    page.fill("#https textarea[name=key]", key_pem(make("another")[1]))
    page.click("#https button:has-text('Upload certificate')")
    page.wait_for_selector(".messages >> text=KEY does not match the certificate")
    assert list(Certificate.objects.values_list("name", flat=True)) == [cert.name]

    page.click("#https button:has-text('Enable automatic certificates')")
    page.wait_for_selector(".messages >> text=Automatic certificates on")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#https button:has-text('Turn redirect on')")
    page.wait_for_selector(".messages >> text=HTTPS redirect on")
    page.fill("#https input[name=max_age]", "forever")
    page.click("#https button:has-text('Set HSTS')")
    page.wait_for_selector(".messages >> text=HSTS max-age must be a whole number of seconds")
    page.fill("#https input[name=max_age]", "600")
    page.click("#https button:has-text('Set HSTS')")
    page.wait_for_selector(".messages >> text=HSTS max-age=600")
    app = App.objects.get(pk=alice_app.pk)
    assert (app.acme, app.https_redirect, app.hsts_max_age) == (True, True, 600)
    assert page.locator("#hsts-state").inner_text() == "Strict-Transport-Security: max-age=600"
    shoot(page, "app-https")

    # The uploaded certificate's own row: with automatic certificates on, the session's control loop (the
    # e2e platform, whose pebble answers every name) may meanwhile have ordered one for the domain too.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#https table.certs tr:has(input[name=cert][value='{cert.name}']) button")
    page.wait_for_selector(f".messages >> text=Removed certificate {cert.name}")
    assert not Certificate.objects.filter(name=cert.name).exists()
    assert not Certificate.objects.filter(source=Certificate.UPLOAD).exists()
    shoot(page, "app-https-removed")
