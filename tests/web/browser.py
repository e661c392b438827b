"""Debian's chromium driven by Playwright (no browser download), and where the screenshots go."""

import os
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
WIDTHS = {"desktop": 1280, "phone": 390}
CHECKOUT = Path(__file__).resolve().parents[2]


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
