"""Every API endpoint, in one list that serves both the URLs and the OpenAPI description."""

from paas.platform.api import (
    account,
    apps,
    autoscale,
    builds,
    canary,
    collaborators,
    config,
    domains,
    egress,
    events,
    formation,
    images,
    health,
    logs,
    metrics,
    openapi,
    releases,
    runs,
    teams,
    tokens,
    usage,
)
from paas.platform.api.longpoll import LongPollEndpoint
from paas.platform.api.routing import Endpoint


def openapi_document(request):
    """This API's OpenAPI description."""
    return openapi.describe(ENDPOINTS)


A = "apps/<str:app>"
ENDPOINTS = [
    Endpoint("healthz", {"GET": health.healthz}, public=True, tag="platform"),
    Endpoint("openapi.json", {"GET": openapi_document}, public=True, tag="platform"),
    Endpoint("login", {"POST": account.login}, public=True, tag="account"),
    Endpoint("account", {"GET": account.whoami}, tag="account"),
    Endpoint("users", {"POST": account.create_account}, tag="account"),
    Endpoint("tokens", {"GET": tokens.list_tokens, "POST": tokens.create}, tag="tokens"),
    Endpoint("tokens/<int:token_id>", {"DELETE": tokens.destroy}, tag="tokens"),
    Endpoint("teams", {"GET": teams.list_teams, "POST": teams.create}, tag="teams"),
    Endpoint("teams/<str:team>/members", {"POST": teams.add}, tag="teams"),
    Endpoint("teams/<str:team>/members/<str:user>", {"DELETE": teams.remove}, tag="teams"),
    Endpoint("events", {"GET": events.list_events}, tag="events"),
    Endpoint("logs/search", {"GET": logs.search_all}, tag="logs"),
    Endpoint("usage", {"GET": usage.all_usage}, tag="usage"),
    Endpoint("images/<str:digest>", {"GET": images.download}, tag="platform"),
    Endpoint("stacks", {"GET": apps.list_stacks}, tag="apps"),
    Endpoint("apps", {"GET": apps.list_apps, "POST": apps.create}, tag="apps"),
    Endpoint(A, {"GET": apps.info, "DELETE": apps.destroy}, tag="apps"),
    Endpoint(f"{A}/config", {"GET": config.show, "PATCH": config.update}, tag="config"),
    Endpoint(f"{A}/releases", {"GET": releases.list_releases}, tag="releases"),
    Endpoint(f"{A}/releases/<str:version>", {"GET": releases.info}, tag="releases"),
    Endpoint(f"{A}/rollback", {"POST": releases.create_rollback}, tag="releases"),
    Endpoint(f"{A}/canary", {"GET": canary.show, "POST": canary.start, "DELETE": canary.abort}, tag="releases"),
    Endpoint(f"{A}/canary/promote", {"POST": canary.promote}, tag="releases"),
    Endpoint(f"{A}/formation", {"GET": formation.show, "PATCH": formation.update}, tag="formation"),
    Endpoint(f"{A}/instances", {"GET": formation.instances}, tag="formation"),
    Endpoint(f"{A}/autoscale", {"GET": autoscale.list_autoscalers}, tag="formation"),
    Endpoint(f"{A}/autoscale/<str:process_type>", {"PUT": autoscale.update, "DELETE": autoscale.destroy},
             tag="formation"),
    Endpoint(f"{A}/runs", {"POST": runs.create}, tag="runs"),
    Endpoint(f"{A}/runs/<str:name>", {"GET": runs.show, "DELETE": runs.stop}, tag="runs"),
    LongPollEndpoint(f"{A}/runs/<str:name>/output", {"GET": runs.output}, tag="runs"),
    Endpoint(f"{A}/runs/<str:name>/input", {"POST": runs.send_input}, tag="runs"),
    Endpoint(f"{A}/ps/restart", {"POST": formation.restart_processes}, tag="formation"),
    Endpoint(f"{A}/ps/stop", {"POST": formation.stop_processes}, tag="formation"),
    Endpoint(f"{A}/ps/start", {"POST": formation.start_processes}, tag="formation"),
    Endpoint(f"{A}/domains", {"GET": domains.list_domains, "POST": domains.create}, tag="domains"),
    Endpoint(f"{A}/domains/<str:hostname>", {"DELETE": domains.destroy}, tag="domains"),
    LongPollEndpoint(f"{A}/domains/<str:hostname>/verify", {"POST": domains.verify}, tag="domains"),
    Endpoint(f"{A}/collaborators", {"GET": collaborators.list_collaborators, "POST": collaborators.create}, tag="access"),
    Endpoint(f"{A}/collaborators/<str:user>", {"DELETE": collaborators.destroy}, tag="access"),
    Endpoint(f"{A}/events", {"GET": events.app_events}, tag="events"),
    LongPollEndpoint(f"{A}/logs", {"GET": logs.read}, tag="logs"),
    Endpoint(f"{A}/logs/search", {"GET": logs.search}, tag="logs"),
    Endpoint(f"{A}/metrics", {"GET": metrics.show}, tag="logs"),
    Endpoint(f"{A}/usage", {"GET": usage.app_usage}, tag="usage"),
    Endpoint(f"{A}/maintenance", {"PUT": apps.set_maintenance}, tag="apps"),
    Endpoint(f"{A}/healthcheck", {"PUT": apps.set_healthcheck}, tag="apps"),
    Endpoint(f"{A}/stack", {"PUT": apps.change_stack}, tag="apps"),
    Endpoint(f"{A}/egress", {"GET": egress.show, "PUT": egress.change}, tag="apps"),
    Endpoint(f"{A}/builds", {"GET": builds.list_builds}, tag="builds"),
    Endpoint(f"{A}/builds/<str:build>", {"GET": builds.info}, tag="builds"),
    Endpoint(f"{A}/builds/<str:build>/cancel", {"POST": builds.cancel}, tag="builds"),
    Endpoint(f"{A}/build-cache", {"DELETE": builds.clear_cache}, tag="builds"),
]

urlpatterns = [endpoint.url() for endpoint in ENDPOINTS]
