"""Path and query parameters, checked before a handler queries anything with them.

Every path parameter of an API route is named in ``PATH_CHECKS`` (the route list
refuses to load otherwise), so ``/api/apps/%00`` or ``teams/%00/members`` is a 404
with a message before any database lookup. Query parameters are one-line text;
numbers in them are read by ``query_int`` only.
"""

from paas.platform.exceptions import BadRequest, Invalid, NotFound
from paas.platform.names import (
    check_app_name,
    check_instance_name,
    check_process_type,
    check_team_name,
    check_text,
)

# Query values are short: cursors, process names, dates, a confirmation.
MAX_QUERY_VALUE = 200
# The largest id PostgreSQL's bigint holds: a larger one can only be "not found".
MAX_ID = 2**63 - 1


def check_id(value) -> int:
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise Invalid(f"an id is a whole number from 1 to {MAX_ID}")
    return value


def one_line(what: str, max_length: int):
    def check(value):
        return check_text(value, what, max_length=max_length)

    return check


# Path parameter name -> its check. Each raises Invalid; the request then answers 404.
PATH_CHECKS = {
    "app": check_app_name,
    "team": check_team_name,
    "name": check_instance_name,
    "process_type": check_process_type,
    "token_id": check_id,
    "drain_id": check_id,
    "user": one_line("a username or e-mail address", 254),
    "hostname": one_line("a hostname", 253),
    "cert": one_line("a certificate name", 16),
    "version": one_line("a release version", 21),
    "build": one_line("a build id", 36),
    "digest": one_line("an image digest", 100),
    "registry": one_line("a registry address", 255),
    "addon": one_line("an add-on name", 63),
    "backup": one_line("a backup id", 10),
    "host": one_line("a host name", 100),
}


def check_path_params(params: dict) -> None:
    """Refuse, as not found, any path parameter its check does not accept."""
    for name, value in params.items():
        try:
            PATH_CHECKS[name](value)
        except Invalid as error:
            raise NotFound(f"not found: {error.message}") from None


def check_query(request) -> None:
    """Every query parameter is one line of valid text, of bounded length: else 400, as for any
    malformed query string (a number or a cursor that is not one)."""
    try:
        for key, values in request.GET.lists():
            check_text(key, "a query parameter's name", max_length=MAX_QUERY_VALUE)
            for value in values:
                check_text(value, f"query parameter {key}", max_length=MAX_QUERY_VALUE)
    except Invalid as error:
        raise BadRequest(error.message) from None


def query_int(request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number from ``low`` to ``high`` (``default`` when absent).

    ASCII digits only: str.isdigit() accepts "²" and other scripts' digits, which
    int() then refuses; the length is bounded before int() so a huge number is cheap.
    """
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return int(raw)
