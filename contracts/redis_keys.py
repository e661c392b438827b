"""Every Redis key and channel the platform's processes share, and the streams' shapes (README.md here).

The router, the agent, the Log Center and Platform Control run as separate processes, often under
separate Redis users (compose/redis_acl.py): a key they disagree on is a silent outage, not an
error. So each name is built here and nowhere else, from the one prefix read by ``prefix()``.

Plain functions of ``(prefix, ...)``: Django's side passes ``settings.PAAS_REDIS_PREFIX`` (tests
swap it per test), the other processes the value ``prefix()`` returned at start. The log record's
fields belong to the Log Center (logcenter/schema.py); only the stream names are here.
"""

import os

PREFIX_VARIABLE = "PAAS_REDIS_PREFIX"
DEFAULT_PREFIX = "paas:"
# ACL rules are space-separated words and the prefix is part of them (redis_acl.rules):
# whitespace or control characters in it would split or corrupt a rule.
MAX_PREFIX = 64

# XADD ... MAXLEN ~ N of each stream: the newest N entries are kept.
LOG_MAXLEN = 10_000            # logs:<app>, by every writer (runtime, router, platform)
RUN_INPUT_MAXLEN = 10_000      # run:<id>:in, keystrokes from the developer's CLI
RUN_OUTPUT_MAXLEN = 20_000     # run:<id>:out, what a one-off printed
BUILD_OUTPUT_MAXLEN = 100_000  # builds:<uuid>, a build's output lines

# Stream entry fields besides the log record (whose fields are logcenter/schema.FIELDS).
RUN_INPUT_FIELDS = ("data", "eof", "signal", "resize")   # one of them per entry
RUN_OUTPUT_FIELDS = ("data", "eof")                      # data: base64; eof ends the stream
BUILD_OUTPUT_FIELDS = ("line", "end", "message", "release")  # {"line"}..., then one {"end", "message", "release"}

# Keys under logs: that are not an app's stream: an app of this name would collide with them
# (platform/names.py refuses it).
LOG_OFFSETS = "offsets"
RESERVED_LOG_NAMES = frozenset({LOG_OFFSETS})


def prefix(environ=None) -> str:
    """The prefix of every key and channel (``PAAS_REDIS_PREFIX``, default ``paas:``); the one place it is read.

    One Redis can serve several platforms, or test runs, apart. Raises ValueError naming the
    variable when the value cannot be part of a key and an ACL rule.
    """
    value = (os.environ if environ is None else environ).get(PREFIX_VARIABLE, "") or DEFAULT_PREFIX
    if len(value) > MAX_PREFIX or not value.isascii() or not all(c.isprintable() and not c.isspace() for c in value):
        raise ValueError(f"{PREFIX_VARIABLE}={value[:80]!r}: use at most {MAX_PREFIX} printable ASCII characters "
                         "without spaces")
    return value


def glob_escape(text: str) -> str:
    """``text`` matched literally in a Redis glob (SCAN MATCH, ACL key and channel patterns)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


# --- app logs (runtime/LOGS.md, logcenter/SCHEMA.md) ---

def log_stream(prefix: str, app: str) -> str:
    """The stream of one app's lines: app output, router access lines, platform events."""
    return f"{prefix}logs:{app}"


def log_streams_pattern(prefix: str) -> str:
    """A Redis glob of every app's log stream (``log_offsets`` matches it too)."""
    return f"{glob_escape(prefix)}logs:*"


def app_of_log_stream(prefix: str, key: str) -> str:
    """The app name in a ``log_stream`` key."""
    return key[len(log_stream(prefix, "")):]


def log_offsets(prefix: str) -> str:
    """The hash of the agents' shipped byte offsets (field ``<host>:<instance>:<stream>``)."""
    return log_stream(prefix, LOG_OFFSETS)


# --- one-off runs attached to a terminal (runtime/attach.py) ---

def run_streams(prefix: str, run_id: str) -> tuple[str, str]:
    """The input and output streams of an attached ``paas run``."""
    return f"{prefix}run:{run_id}:in", f"{prefix}run:{run_id}:out"


def run_streams_pattern(prefix: str) -> str:
    """A Redis glob of every run's streams."""
    return f"{glob_escape(prefix)}run:*"


# --- wake-up channels (pub/sub; a lost message costs a delay, never a wrong state) ---

def control_wake(prefix: str) -> str:
    """The control loop ticks now: a release, a scale, an instance changing state."""
    return f"{prefix}control:wake"


def agent_wake(prefix: str) -> str:
    """The agents reconcile now: instances were assigned or stopped."""
    return f"{prefix}agent:wake"


def agent_pressure(prefix: str, host: str) -> str:
    """Kept (expiring) by an agent while its host is short of memory; read by control/sleep.py."""
    return f"{prefix}agent:pressure:{host}"


def agent_pressure_pattern(prefix: str) -> str:
    return f"{glob_escape(prefix)}agent:pressure:*"


def router_wake(prefix: str) -> str:
    """The router names an app scaled to zero that got a request."""
    return f"{prefix}router:wake"


# --- the route table (router/ROUTES.md) ---

def route_hosts(prefix: str) -> str:
    return f"{prefix}router:hosts"


def route_app(prefix: str, app: str) -> str:
    return f"{prefix}router:app:{app}"


def route_apps_pattern(prefix: str) -> str:
    """A Redis glob of every app's route entry."""
    return f"{glob_escape(prefix)}router:app:*"


def route_changes(prefix: str) -> str:
    return f"{prefix}router:changes"


def route_published(prefix: str) -> str:
    return f"{prefix}router:published"


def router_metrics(prefix: str, app: str) -> str:
    """The hash each router node writes its last-minute figures of the app into."""
    return f"{prefix}router:metrics:{app}"


def tls_certificates(prefix: str) -> str:
    """Uploaded certificates the router serves by SNI: field = hostname, value = JSON {"chain", "key"}.

    It holds private keys: only Platform Control (writes) and the router (reads) may touch it,
    so it lies outside every pattern the agent's and the Log Center's Redis users are given.
    """
    return f"{prefix}tls:certs"


def acme_challenges(prefix: str) -> str:
    """Pending ACME HTTP-01 challenges the router answers: field = ``<hostname> <token>``, value = the
    key authorization (pki/challenges.py). Written by Platform Control, read (HGET) by the router."""
    return f"{prefix}acme:challenges"


# --- Platform Control's own keys ---

def autoscale_idle_since(prefix: str, app: str) -> str:
    return f"{prefix}autoscale:idle-since:{app}"


def build_output(prefix: str, build_uuid) -> str:
    return f"{prefix}builds:{build_uuid}"


def build_cancel(prefix: str, build_uuid) -> str:
    return f"{prefix}builds:{build_uuid}:cancel"


def build_lease(prefix: str, build_uuid) -> str:
    return f"{prefix}builds:{build_uuid}:lease"


def build_attempts(prefix: str, build_uuid) -> str:
    return f"{prefix}builds:{build_uuid}:attempts"


def build_queued(prefix: str, build_uuid) -> str:
    """Set when a build's task is queued; a Redis restart empties it with the queue."""
    return f"{prefix}builds:{build_uuid}:queued"


def login_failures(prefix: str, kind: str, who: str) -> str:
    """The failed-login counter of an account (``user``), a client address (``addr``) or an account's
    registry logins (``registry``)."""
    if kind not in ("user", "addr", "registry"):
        raise ValueError(f"unknown login counter kind {kind!r}")
    return f"{prefix}login:failures:{kind}:{who}"


def follow_slots(prefix: str, user_id: int) -> str:
    """The sorted set of a user's open long polls (``paas logs --tail``, attached runs)."""
    return f"{prefix}follows:user:{user_id}"


def push_lock(prefix: str, app: str) -> str:
    return f"{prefix}lock:push:{app}"


# --- the Log Center's: what the API publishes for paas-logs (logcenter/drains.py, alerts.py, retention.py) ---

def log_drains(prefix: str) -> str:
    """The hash app -> JSON list of the app's drains (written by the API, read by paas-logs)."""
    return f"{prefix}logcenter:drains"


def log_alerts(prefix: str) -> str:
    """The hash app -> JSON list of the app's log alerts (written by the API, read by paas-logs)."""
    return f"{prefix}logcenter:alerts"


def log_retention(prefix: str) -> str:
    """The hash app -> days its lines are kept, for apps with a setting of their own (API -> paas-logs)."""
    return f"{prefix}logcenter:retention"
