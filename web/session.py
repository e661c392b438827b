"""Logging in and out of the console: Django's session login behind the API's login throttle."""

from django import forms
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from paas.platform.actions.login_throttle import ThrottledLoginFormMixin


class LoginForm(ThrottledLoginFormMixin, AuthenticationForm):
    """authenticate() goes through ThrottledModelBackend; a lock-out is a form error (the mixin)."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True,
                                                                            "autocomplete": "username"}))


def next_page(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/console/") and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return "/console/"


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request):
    """The login form; a good password starts a session (a new session id: no fixation)."""
    form = LoginForm(request, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        login(request, form.get_user())
        return redirect(next_page(request))
    status = 400 if form.is_bound else 200
    return render(request, "console/login.html", {"form": form, "next": next_page(request)}, status=status)


@require_POST
@csrf_protect
def logout_view(request):
    """Logout is a POST with the CSRF token: a link on another site cannot log you out."""
    logout(request)
    return redirect("/console/login/")
