"""Debian's chromium driven by Playwright (no browser download), and where the screenshots go."""

import os
import re
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
WIDTHS = {"desktop": 1280, "phone": 390}
CHECKOUT = Path(__file__).resolve().parents[2]
# Chromium abandons a request when the machine's interfaces change, as they do while the platform
# starts containers (a veth pair per instance): the browser's doing, retried by ``visit``.
NOT_THE_CONSOLES_FAULT = ("net::ERR_NETWORK_CHANGED",)
PASSWORD = "correct-horse-battery"  # every test account's (make_user in tests/platform/accounts.py)


def output_dir() -> Path:
    """The test run's output: PAAS_TEST_OUTPUT_DIR, else .paas-test/output (beside make test's servers)."""
    base = Path(os.environ.get("PAAS_TEST_OUTPUT_DIR") or CHECKOUT / ".paas-test" / "output")
    path = base / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium():
    """One browser for a test, closed (with its processes) even when the test fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page, name: str) -> None:
    """A full-page screenshot, and the page never wider than the window (no sideways scrolling on a phone)."""
    page.screenshot(path=str(output_dir() / f"{page.shots}-{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name} is {width}px wide"


def log_in(page, username: str) -> None:
    page.goto(page.base + "/console/")
    assert "/console/login/" in page.url
    shoot(page, "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/$"))


def visit(page, url: str, attempts: int = 5):
    """``page.goto`` again when chromium gave up because an interface came or went (NOT_THE_CONSOLES_FAULT)."""
    from playwright.sync_api import Error

    for attempt in range(attempts):
        try:
            return page.goto(url)
        except Error as error:
            if attempt == attempts - 1 or not any(f in str(error) for f in NOT_THE_CONSOLES_FAULT):
                raise
