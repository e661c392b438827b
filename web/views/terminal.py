"""The browser terminal for ``paas run``: a one-off on a real tty, keystrokes and output live.

The run is attached as ``paas run`` attaches it (``attach="tty"``): the runtime's relay
(runtime/attach.py) starts it on a pty, so line editing, Ctrl-C, colours and the window's
size are the terminal's own; the page (static/console/terminal.js) draws it with xterm.js.

Each step calls what the API calls (platform/api/runs.py): starting goes through start_run
(the app's access check; recorded as a one-off, the command for members only), output is read
by the API's own long-poll handler inside the user's follow slots, and input goes through the
API's input handler. The session stands in for the token; the CSRF token guards the posts.
"""


from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from paas.platform.actions import access
from paas.platform.actions.runs import start_run
from paas.platform.api import runs as api_runs
from paas.platform.api.body import read_json_body
from paas.platform.api.errors import platform_error_response
from paas.platform.api.params import check_query
from paas.platform.exceptions import PlatformError, Unauthorized
from paas.web.guard import console_view


@console_view()
def terminal(request, app):
    """The terminal page: a command line, the run's output, and its input."""
    return render(request, "console/terminal.html", {"app": access.get_app(request.user, app)})


def json_errors(view):
    """JSON views of the terminal answer a refusal as the API does: ``{"error", "message"}`` with its status."""

    def guarded(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return platform_error_response(Unauthorized("log in to the console first"))
        try:
            check_query(request)
            return view(request, *args, **kwargs)
        except PlatformError as error:
            return platform_error_response(error)

    return guarded


@require_POST
@json_errors
def start(request, app):
    """Start ``command`` on a tty; answers the run as the API does."""
    data = read_json_body(request)  # its declared size refused before anything is read
    target = access.get_app(request.user, app)
    instance = start_run(request.user, target, data.get("command"), size=data.get("size") or "small",
                         attach="tty")
    return JsonResponse(api_runs.run_json(instance), status=201)


@require_POST
@json_errors
def send(request, app, name):
    """Keystrokes (bytes), end of input, a signal or the window's size, through the API's input handler."""
    request.data = read_json_body(request)
    return JsonResponse(api_runs.send_input(request, app, name))


async def output(request, app, name):
    """The run's output after ?after=, waiting up to ?wait= on the event loop (the API's long poll)."""
    user = await request.auser()
    if not user.is_authenticated:
        return platform_error_response(Unauthorized("log in to the console first"))
    request.user = user  # the API's handler reads the user as a plain object, as its token auth leaves it
    try:
        check_query(request)
        return JsonResponse(await api_runs.output(request, app, name))
    except PlatformError as error:
        return platform_error_response(error)


output.long_poll = True  # platform/asgi.py: waits on the event loop, outside the request threads
