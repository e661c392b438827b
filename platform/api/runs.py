"""One-off processes (paas run), attached through the API or detached."""

import base64

from asgiref.sync import sync_to_async

from paas.platform import runio
from paas.platform.actions import access
from paas.platform.actions.runs import get_run, start_run, stop_run
from paas.platform.api.longpoll import query_cursor, query_wait, waiting
from paas.platform.api.routing import body_schema
from paas.platform.exceptions import Invalid


def run_json(instance) -> dict:
    return {"name": instance.name, "process": instance.label, "command": instance.command, "size": instance.size,
            "release": instance.release.version, "attach": instance.attach or None, "state": instance.state,
            "exit_code": instance.exit_code, "finished": instance.desired_state == "stopped" and instance.state in (
                "stopped", "crashed", "oom-killed")}


@body_schema({"command": "string", "size": "small|medium|large|xlarge", "attach": '"tty", "pipe" or ""',
              "time_limit_s": "integer"})
def create(request, app):
    """Run a command once with the app's live release and config."""
    target = access.get_app(request.user, app)
    data = request.data
    instance = start_run(request.user, target, data.get("command"), size=data.get("size") or "small",
                         attach=data.get("attach") or "", time_limit_s=data.get("time_limit_s"))
    return 201, run_json(instance)


def show(request, app, name):
    """A run's state and, once finished, its exit code."""
    return run_json(get_run(access.get_app(request.user, app), name))


def stop(request, app, name):
    """Stop a run (SIGTERM, then SIGKILL after the grace period)."""
    target = access.get_app(request.user, app)
    stop_run(request.user, target, get_run(target, name))
    return {"stopping": name}


def open_output(request, app, name):
    """The database part of a read of a run's output: the access check and the query parsed."""
    target = access.get_app(request.user, app)
    cursor, wait_s = query_cursor(request, "0-0"), query_wait(request)
    return get_run(target, name), cursor, wait_s


def run_state(instance) -> dict:
    return run_json(get_run(instance.app, instance.name))


async def output(request, app, name):
    """Output after ?after=<cursor>, waiting up to ?wait=S for some (base64 chunks)."""
    instance, cursor, wait_s = await sync_to_async(open_output)(request, app, name)
    chunks, cursor, ended = await waiting(request.user, wait_s,
                                          lambda client: runio.read(client, instance.name, cursor, wait_s))
    state = await sync_to_async(run_state)(instance)
    return {"chunks": chunks, "cursor": cursor, "eof": ended, **state}


@body_schema({"data": "base64 bytes", "eof": "true", "signal": "INT|TERM|HUP|QUIT", "resize": "[rows, cols]"})
def send_input(request, app, name):
    """Keystrokes, end of input, a signal or the terminal's size, for an attached run."""
    instance = get_run(access.get_app(request.user, app), name)
    if not instance.attach:
        raise Invalid("this run is detached: it takes no input")
    fields = input_fields(request.data)
    runio.send(instance.name, fields)
    return {"sent": list(fields)}


def input_fields(data: dict) -> dict:
    if "data" in data:
        try:
            return {"data": base64.b64encode(runio.decode_input(data["data"]))}
        except ValueError as error:
            raise Invalid(str(error)) from None
    if data.get("eof") is True:
        return {"eof": "1"}
    if data.get("signal") in runio.SIGNALS:
        return {"signal": data["signal"]}
    resize = data.get("resize")
    if isinstance(resize, list) and len(resize) == 2 and all(type(n) is int and 1 <= n <= 10000 for n in resize):
        return {"resize": f"{resize[0]},{resize[1]}"}
    raise Invalid('send {"data": base64}, {"eof": true}, {"signal": "INT"} or {"resize": [rows, cols]}')
