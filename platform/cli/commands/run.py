"""run: a one-off process with the app's code and config, attached to this terminal."""

import base64
import os
import signal
import sys
import termios
import threading
import time
import tty

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import ApiError, CliError
from paas.platform.cli.output import emit_json

LONG_POLL_S = 20
FINISH_WAIT_S = 60


def register(sub, common, app_option):
    run = sub.add_parser("run", parents=[common, app_option], help="run a command once (paas run bash)")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background; output goes to the logs")
    run.add_argument("-s", "--size", default="small", help="instance size (small, medium, large, xlarge)")
    run.add_argument("--timeout", type=int, help="stop it after this many seconds (default: the platform's limit)")
    run.add_argument("--no-tty", action="store_true", help="pipes instead of a terminal, even on a terminal")
    run.add_argument("command", nargs="+", help="the command (use -- before options meant for it)")
    run.set_defaults(func=run_command)


def run_command(args) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.no_tty
    body = {"command": " ".join(args.command), "size": args.size,
            "attach": "" if args.detach else ("tty" if interactive else "pipe")}
    if args.timeout is not None:
        body["time_limit_s"] = args.timeout
    api = Api()
    run = api.post(f"apps/{quote(args.app)}/runs", body)
    if args.detach:
        if args.json:
            emit_json(run)
        else:
            print(f"Running `{run['command']}` as {run['process']} (v{run['release']}): "
                  f"paas logs -a {args.app} -p {run['process']}")
        return 0
    return Session(api, args.app, run["name"], interactive).attach()


class Session:
    """Moves this terminal's bytes to the run and the run's output back, then exits with its code."""

    def __init__(self, api: Api, app: str, name: str, interactive: bool):
        self.api, self.interactive = api, interactive
        self.base = f"apps/{quote(app)}/runs/{quote(name)}"
        self.interrupts = 0

    def send(self, fields: dict) -> None:
        try:
            self.api.post(f"{self.base}/input", fields)
        except CliError:
            pass  # the run ended while we typed: its output and exit code still come

    def attach(self) -> int:
        saved = termios.tcgetattr(sys.stdin) if self.interactive else None
        try:
            if self.interactive:
                tty.setraw(sys.stdin)  # keystrokes, Ctrl-C included, go to the run's terminal
                self.send_size()
                signal.signal(signal.SIGWINCH, lambda *_: self.send_size())
            else:
                signal.signal(signal.SIGINT, self.on_interrupt)
            threading.Thread(target=self.pump_input, daemon=True).start()
            return self.pump_output()
        finally:
            if saved is not None:
                termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)

    def send_size(self) -> None:
        size = os.get_terminal_size(sys.stdout.fileno())
        self.send({"resize": [size.lines, size.columns]})

    def on_interrupt(self, signum, frame) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self.api.delete(self.base)
            raise KeyboardInterrupt
        self.send({"signal": "INT"})

    def pump_input(self) -> None:
        fd = sys.stdin.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                self.send({"eof": True})
                return
            self.send({"data": base64.b64encode(chunk).decode()})

    def pump_output(self) -> int:
        """Copy the run's output here until it ends; each request waits server-side for output."""
        cursor, out = "0-0", sys.stdout.buffer
        while True:
            page = self.read_output(cursor, LONG_POLL_S)
            for chunk in page["chunks"]:
                out.write(base64.b64decode(chunk))
            out.flush()
            cursor = page["cursor"]
            if page["eof"] or page["finished"]:
                return self.exit_code(page, cursor)

    def read_output(self, cursor: str, wait_s: int) -> dict:
        """One long poll of the output; past the user's cap of open follows, wait for a slot and retry."""
        told = False
        while True:
            try:
                return self.api.get(f"{self.base}/output?after={cursor}&wait={wait_s}")
            except ApiError as error:
                if error.status != 429:
                    raise
                if not told:
                    print(f"\r\n !    {error} (waiting)", file=sys.stderr)
                    told = True
                time.sleep(error.retry_after or 5)

    def exit_code(self, page: dict, cursor: str) -> int:
        """The output has ended; the agent reports the exit code a moment later."""
        deadline = time.monotonic() + FINISH_WAIT_S
        while not page["finished"] and time.monotonic() < deadline:
            # Past the end of the (ended) output stream, a short server-side wait paces this loop.
            page = self.read_output(cursor, 1)
            cursor = page["cursor"]
        if page["state"] == "oom-killed":
            print("\r\n !    the run was killed for exceeding its memory", file=sys.stderr)
        return page["exit_code"] if page["exit_code"] is not None else 1
