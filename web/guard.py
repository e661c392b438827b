"""What every console view does first: a logged-in user, checked query text, and domain errors shown, not raised.

The console's rules are the API's: views call the same actions (platform/actions/), so a
refusal there (403, 404, 422, 409) is the same refusal here. A form post that fails comes
back to its page with the action's message; a page that cannot be shown says why with
the action's HTTP status. Never a traceback, never a JSON error on a page.
"""

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from paas.platform.api.params import check_query
from paas.platform.exceptions import Forbidden, PlatformError


def console_view(*, admin: bool = False):
    """Wrap a view: log in first, refuse bad query text, render PlatformErrors (admins only when ``admin``)."""

    def wrap(view):
        @functools.wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                check_query(request)
                if admin and not request.user.is_staff:
                    raise Forbidden("this page is for platform admins")
                return view(request, *args, **kwargs)
            except PlatformError as error:
                return refused(request, error)

        return guarded

    return wrap


def console_long_view(view):
    """console_view for a view that waits on the event loop (a DNS lookup), as the API's long polls do.

    The same rules: logged in, query text checked, a refusal shown as the action's message.
    ASGI runs it outside the request threads (platform/asgi.py reads ``long_poll``).
    """

    @functools.wraps(view)
    async def guarded(request, *args, **kwargs):
        request.user = await request.auser()  # the API's handlers read the user as a plain object
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            check_query(request)
            return await view(request, *args, **kwargs)
        except PlatformError as error:
            return refused(request, error)

    guarded.long_poll = True
    return guarded


def refused(request, error: PlatformError):
    """A failed post goes back where it came from with the message; a failed page shows it."""
    if request.method == "POST":
        messages.error(request, error.message)
        return redirect(back(request))
    return render(request, "console/error.html", {"error": error}, status=error.status)


def back(request, default: str = "/console/") -> str:
    """The page a form was posted from (its ``next`` field), if it is one of ours."""
    target = request.POST.get("next") or ""
    if target.startswith("/console/") and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return default


def done(request, message: str, default: str = "/console/"):
    """A successful post: say what happened and go back (post/redirect/get)."""
    messages.success(request, message)
    return redirect(back(request, default))
