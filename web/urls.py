"""The console's pages under /console/ (included from platform/urls.py)."""

from django.urls import path

from paas.web import session
from paas.web.views import accounts, addons, app_actions, apps, audit, dashboard, hosts, logs, metrics, terminal

A = "apps/<str:app>/"
urlpatterns = [
    path("", dashboard.dashboard, name="console-dashboard"),
    path("login/", session.login_view, name="console-login"),
    path("logout/", session.logout_view, name="console-logout"),
    path("apps/", apps.app_list, name="console-apps"),
    path(A, apps.app_page, name="console-app"),
    path(f"{A}rollback", app_actions.do_rollback),
    path(f"{A}config", app_actions.set_config),
    path(f"{A}config/unset", app_actions.unset_config),
    path(f"{A}config.json", app_actions.reveal_config),
    path(f"{A}scale", app_actions.do_scale),
    path(f"{A}maintenance", app_actions.maintenance),
    path(f"{A}domains", app_actions.domain_add),
    path(f"{A}domains/remove", app_actions.domain_remove),
    path(f"{A}collaborators", app_actions.collaborator_add),
    path(f"{A}collaborators/remove", app_actions.collaborator_remove),
    path(f"{A}addons", addons.create),
    path(f"{A}addons/destroy", addons.destroy),
    path(f"{A}addons/detach", addons.detach),
    path(f"{A}addons/capture", addons.capture),
    path(f"{A}addons/schedule", addons.schedule),
    path(f"{A}builds/<str:build>/", apps.build_page),
    path(f"{A}builds/<str:build>/output.json", app_actions.build_output),
    path(f"{A}logs/", logs.app_logs),
    path(f"{A}logs/tail.json", logs.tail),
    path(f"{A}metrics/", metrics.app_metrics),
    path(f"{A}run/", terminal.terminal),
    path(f"{A}runs", terminal.start),
    path(f"{A}runs/<str:name>/output", terminal.output),
    path(f"{A}runs/<str:name>/input", terminal.send),
    path("logs/", logs.all_logs),
    path("hosts/", hosts.host_list),
    path("hosts/<str:host>/cordon", hosts.cordon_view),
    path("hosts/<str:host>/uncordon", hosts.uncordon_view),
    path("hosts/<str:host>/drain", hosts.drain_view),
    path("users/", accounts.user_list),
    path("users/create", accounts.user_create),
    path("teams/", accounts.team_list),
    path("teams/create", accounts.team_create),
    path("teams/<str:team>/add", accounts.team_add),
    path("teams/<str:team>/remove", accounts.team_remove),
    path("tokens/", accounts.token_list),
    path("tokens/create", accounts.token_create),
    path("tokens/revoke", accounts.token_revoke),
    path("events/", audit.event_list),
]
