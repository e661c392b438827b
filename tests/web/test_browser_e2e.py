"""A really pushed app in the console, in chromium: its deploy state, then config, scale, rollback and a
one-off in the browser terminal, each carried out by the real platform (git server, builds, control loop, agent)."""

import re
import uuid

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.models import Event, Instance, Release
from tests.waiting import wait_for
from tests.web.browser import log_in, shoot, visit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SERVER = {
    "Procfile": "web: python3 -u server.py\n",
    "server.py": (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = os.environ.get('GREETING', 'hello').encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "print('listening on', os.environ['PORT'], flush=True)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    ),
}


def live(app, version: int) -> bool:
    return Release.objects.filter(app=app, version=version, status=Release.SUCCEEDED).exists()


def up_count(app) -> int:
    return Instance.objects.filter(app=app, state=Instance.UP, desired_state=Instance.RUNNING,
                                   kind=Instance.SERVICE).count()


def test_a_pushed_app_is_run_from_the_console(pusher, agent_host, tmp_path, console_page):
    page = console_page
    app = create_app(pusher.user, f"console-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", SERVER, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: live(app, 2), 90, "v2 to be live")

    log_in(page, "pusher")
    visit(page, f"{page.base}/console/apps/{app.name}/")
    assert page.locator("#live-release").inner_text() == "v2"
    assert page.locator("#instances >> text=web.1").is_visible()
    assert page.locator(f"#instances >> text={agent_host.name}").is_visible()
    assert page.locator("#instances .state-up").count() == 1
    shoot(page, "pushed-app")

    page.fill("#config form.stack input[name=key]", "GREETING")
    page.fill("#config textarea[name=value]", "bonjour")
    page.click("#config button:has-text('Set (new release)')")
    page.wait_for_selector(".messages >> text=v3: Set GREETING config var")
    wait_for(lambda: live(app, 3), 90, "v3 (the config edit) to be live")

    page.fill("#scale input[name=quantity]", "2")
    page.click("#scale button:has-text('Scale web')")
    page.wait_for_selector(".messages >> text=web=2:small")
    wait_for(lambda: up_count(app) == 2, 90, "two web instances up")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Roll back to v2')")
    page.wait_for_selector(".messages >> text=Rollback to v2")
    wait_for(lambda: live(app, 4), 90, "v4 (the rollback) to be live")
    visit(page, f"{page.base}/console/apps/{app.name}/")
    assert page.locator("#live-release").inner_text() == "v4"
    shoot(page, "pushed-app-after-rollback")

    visit(page, f"{page.base}/console/apps/{app.name}/logs/")
    page.wait_for_selector("#tail >> text=listening on", timeout=30_000)
    shoot(page, "pushed-app-logs")

    use_the_terminal(page)
    assert Event.objects.filter(app=app, action="run.start", actor=pusher.user).exists()


def use_the_terminal(page):
    """bash on the live release, on a real tty: line editing, colours, Ctrl-C, the window's size, the exit code."""
    visit(page, page.url.replace("/logs/", "/run/"))
    page.click("#run-start button")  # the command field says bash
    page.wait_for_selector("#run-keys:not([hidden])")
    screen = page.locator("#terminal .xterm-rows")

    def shows(text):
        screen.filter(has_text=text).wait_for(timeout=60_000)

    shows("$")  # bash's prompt: keys typed before readline has the tty are edited by the line discipline instead
    page.click("#terminal")
    page.keyboard.type("echo [ab$((6*7))X]")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Backspace")  # the X: readline edits the line on the pty
    page.keyboard.press("Enter")
    shows("[ab42]")
    page.keyboard.type("printf '\\033[31m%s\\033[0m\\n' red-text; sleep 600\n")
    page.locator("#terminal span.xterm-fg-1", has_text="red-text").wait_for(timeout=30_000)
    page.keyboard.press("Control+C")  # the pty's line discipline interrupts sleep: bash is back at once
    page.keyboard.type("echo after-$? $TERM; stty size\n")
    shows("after-130 xterm-256color")  # the run knows its terminal (runtime/agent.py's tty_env)
    shows(size_of(page))
    before = size_of(page)
    page.set_viewport_size({"width": page.viewport_size["width"] - 100, "height": 600})  # the window resized
    page.wait_for_function(f"document.querySelector('section.terminal').dataset.cols !== '{before.split()[1]}'")
    page.keyboard.type("stty size\n")
    shows(size_of(page))  # the run's pty took the new size
    shoot(page, "pushed-app-terminal")
    hostile_output_stays_text(page)
    page.keyboard.type("exit 3\n")
    page.wait_for_selector("#run-status >> text=exit code 3", timeout=60_000)
    assert page.locator("#run-keys").is_hidden()


def size_of(page) -> str:
    """The terminal's rows and columns as ``stty size`` prints them."""
    section = page.locator("section.terminal")
    return f"{section.get_attribute('data-rows')} {section.get_attribute('data-cols')}"


def hostile_output_stays_text(page):
    """What a run prints is the app's: markup shows as text, and an OSC 8 hyperlink to elsewhere opens nothing."""
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.keyboard.type("printf '<i>x</i> \\033]8;;http://127.0.0.1:9/\\033\\\\evil-link\\033]8;;\\033\\\\\\n'\n")
    row = page.locator("#terminal .xterm-rows > div").filter(has_text=re.compile(r"^<i>x</i> evil-link\s*$"))
    row.wait_for(timeout=30_000)
    assert page.locator("#terminal i").count() == 0
    box = row.bounding_box()  # the row is drawn under xterm's screen, which takes the mouse: click there
    page.mouse.move(box["x"] + 110, box["y"] + box["height"] / 2)  # on the link's text (columns 9-17)
    page.mouse.click(box["x"] + 110, box["y"] + box["height"] / 2)
    page.focus("#terminal textarea.xterm-helper-textarea")
    page.keyboard.type("echo still-here\n")  # a round trip after the click: whatever it did has happened
    page.locator("#terminal .xterm-rows > div").filter(has_text=re.compile(r"^still-here\s*$")).wait_for(timeout=30_000)
    assert dialogs == [] and len(page.context.pages) == 1 and page.url.endswith("/run/")
