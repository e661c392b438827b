"""The git smart HTTP server: ``/<app>.git`` for every app, behind token auth.

Authentication is HTTP basic with any user name and an API token as the
password (what ``paas login`` writes to ~/.netrc). Owners and collaborators may
fetch (read scope) and push (write scope). A push builds while the client
waits, so this runs apart from the API, in threads that are cheap to hold open.
"""

import re

from django.db import close_old_connections
from dulwich.server import Backend
from dulwich.web import HTTPGitApplication

from paas.platform.actions import access
from paas.platform.actions.tokens import authenticate
from paas.platform.api.auth import token_from_header
from paas.platform.exceptions import Forbidden, PlatformError, Unauthorized
from paas.platform.git.receive import DeployingReceivePackHandler, PushContext
from paas.platform.git.repos import open_repo
from paas.platform.models import APIToken

REPO_PATH = re.compile(r"\A/([a-z][a-z0-9-]{1,29})\.git(/.*)\Z")


class OneRepoBackend(Backend):
    """dulwich asks the backend for a repository by path; we resolved it already."""

    def __init__(self, repo):
        self.repo = repo

    def open_repository(self, path):
        return self.repo


def wants_push(environ) -> bool:
    query = environ.get("QUERY_STRING", "")
    return environ["PATH_INFO"].endswith("/git-receive-pack") or "service=git-receive-pack" in query


def plain(start_response, status: str, message: str, headers=()) -> list[bytes]:
    # git shows a text/plain error body to the user as "remote: <message>".
    body = (message + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *headers])
    return [body]


STATUS_LINES = {401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found", 409: "409 Conflict",
                422: "422 Unprocessable Entity", 400: "400 Bad Request", 503: "503 Service Unavailable"}


class GitApplication:
    def __call__(self, environ, start_response):
        close_old_connections()
        try:
            return self.serve(environ, start_response)
        except Unauthorized as error:
            return plain(start_response, "401 Unauthorized", error.message, [("WWW-Authenticate", 'Basic realm="paas"')])
        except PlatformError as error:
            return plain(start_response, STATUS_LINES.get(error.status, "400 Bad Request"), error.message)
        finally:
            close_old_connections()

    def serve(self, environ, start_response):
        match = REPO_PATH.match(environ.get("PATH_INFO", ""))
        if not match:
            return plain(start_response, "404 Not Found", "no repository here: use <api-host>/<app>.git")
        app_name, rest = match.groups()
        token = self.authenticate(environ)
        push = wants_push(environ)
        if not token.allows(APIToken.WRITE if push else APIToken.READ):
            raise Forbidden(f"this token lacks the {'write' if push else 'read'} scope needed to {'push' if push else 'fetch'}")
        app = access.get_app(token.user, app_name)
        handlers = {b"git-receive-pack": DeployingReceivePackHandler.for_push(PushContext(token.user, app))}
        git = HTTPGitApplication(OneRepoBackend(open_repo(app.name)), handlers=handlers)
        environ = {**environ, "PATH_INFO": rest}
        return git(environ, start_response)

    @staticmethod
    def authenticate(environ) -> APIToken:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise Unauthorized("authentication required: run paas login, or use your API token as the password")
        return authenticate(token_from_header(header))
