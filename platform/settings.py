"""Django settings for paas: every value from the environment, read once here.

Defaults work on one machine with PostgreSQL and Redis at their standard ports.
With ``PAAS_PRODUCTION=1`` the platform refuses to start without a secret key.
"""

from pathlib import Path

from paas.platform.env import (
    SettingError,
    check_redis_url,
    env_bool,
    env_float,
    env_hostports,
    env_https_url,
    env_int,
    env_list,
    env_path,
    env_str,
    parse_database_url,
    redis_prefix,
)

CHECKOUT_DIR = Path(__file__).resolve().parent.parent

PRODUCTION = env_bool("PAAS_PRODUCTION", False)
DEBUG = env_bool("PAAS_DEBUG", False)

SECRET_KEY = env_str("PAAS_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise SettingError("PAAS_PRODUCTION is set but PAAS_SECRET_KEY is empty: refusing to start")
    # Development only: a fixed key is fine because nothing signed with it leaves this machine.
    SECRET_KEY = "paas-development-key-not-for-production"

PAAS_DATA_DIR = env_path("PAAS_DATA_DIR", str(CHECKOUT_DIR / ".paas"))
PAAS_BASE_DOMAIN = env_str("PAAS_BASE_DOMAIN", "localhost").lower()
PAAS_API_PORT = env_int("PAAS_API_PORT", 8000, 1, 65535)
PAAS_ROUTER_PORT = env_int("PAAS_ROUTER_PORT", 8080, 1, 65535)
PAAS_GIT_PORT = env_int("PAAS_GIT_PORT", 8001, 1, 65535)
# Where users reach the platform; printed by `make up` and used in git remotes.
PAAS_API_URL = env_str("PAAS_PUBLIC_API_URL", f"http://127.0.0.1:{PAAS_API_PORT}")
# Unset: a caller that reached the API over the router's TLS port (paas.<base>, which serves git too)
# is given git URLs at that same origin (api/origin.py), anyone else the git receiver's plain port.
PAAS_PUBLIC_GIT_URL = env_str("PAAS_PUBLIC_GIT_URL", "")
PAAS_GIT_URL = PAAS_PUBLIC_GIT_URL or f"http://127.0.0.1:{PAAS_GIT_PORT}"
PAAS_DEFAULT_STACK = env_str("PAAS_DEFAULT_STACK", "forky")  # see actions.apps.default_stack
PAAS_TOKEN_TTL_DAYS = env_int("PAAS_TOKEN_TTL_DAYS", 365, 1, 3650)
# Failed logins per account within the window before logins are refused (see actions/login_throttle.py).
PAAS_LOGIN_MAX_FAILURES = env_int("PAAS_LOGIN_MAX_FAILURES", 10, 1)
PAAS_LOGIN_WINDOW_S = env_int("PAAS_LOGIN_WINDOW_S", 15 * 60, 1)
# Log follows and run attachments one user may hold open at once (platform/api/longpoll.py).
PAAS_MAX_FOLLOWS_PER_USER = env_int("PAAS_MAX_FOLLOWS_PER_USER", 8, 1, 1000)
# Threads per API worker (platform/asgi.py), each with its database connection: requests beyond them queue.
PAAS_API_THREADS = env_int("PAAS_API_THREADS", 8, 1, 1000)
PAAS_MAX_INSTANCES_PER_TYPE = env_int("PAAS_MAX_INSTANCES_PER_TYPE", 100, 1, 10000)

# Custom domains are proven by a TXT record, looked up through these resolvers
# (address:port list; empty: the system's, from /etc/resolv.conf) within the timeout.
PAAS_DNS_RESOLVERS = env_hostports("PAAS_DNS_RESOLVERS", 53)
PAAS_DNS_TIMEOUT_S = env_float("PAAS_DNS_TIMEOUT_S", 5.0, 0.1)

# Automatic certificates (paas certs:auto:enable, control/acme.py): the ACME CA's directory (empty: the
# feature is off), the CA bundle its TLS is checked against (empty: the system's trust store), a contact address.
PAAS_ACME_DIRECTORY = env_https_url("PAAS_ACME_DIRECTORY", "https://acme-v02.api.letsencrypt.org/directory")
PAAS_ACME_CA_BUNDLE = env_str("PAAS_ACME_CA_BUNDLE", "").strip()
PAAS_ACME_EMAIL = env_str("PAAS_ACME_EMAIL", "").strip()

# Builds (Code Center): limits that protect the build workers.
PAAS_BUILD_TIMEOUT_S = env_int("PAAS_BUILD_TIMEOUT_S", 15 * 60, 10)
PAAS_MAX_PUSH_BYTES = env_int("PAAS_MAX_PUSH_BYTES", 512 * 1024 * 1024, 1024)
PAAS_MAX_SLUG_BYTES = env_int("PAAS_MAX_SLUG_BYTES", 500 * 1024 * 1024, 1024)
# An image archive uploaded by `paas deploy:image --archive` (compressed size; what it unpacks to
# is PAAS_IMAGE_MAX_BYTES, read by the runtime).
PAAS_MAX_IMAGE_ARCHIVE_BYTES = env_int("PAAS_MAX_IMAGE_ARCHIVE_BYTES", 2 * 1024 * 1024 * 1024, 1024)
# "container" runs buildpacks in a build container from the runner; "local" runs
# them as plain processes on the build host (development without root only).
PAAS_BUILD_EXECUTOR = env_str("PAAS_BUILD_EXECUTOR", "container")
PAAS_BUILD_MEMORY_MB = env_int("PAAS_BUILD_MEMORY_MB", 2048, 128)
# A Docker engine (unix:///var/run/docker.sock) that builds Dockerfile apps through its build API
# (buildpacks/enginebuild.py); empty: buildah in a build container.
PAAS_BUILD_DOCKER_HOST = env_str("PAAS_BUILD_DOCKER_HOST", "").strip()

# Platform Control: rollouts and placement.
# Every Redis key and channel of the platform starts with this (router/ROUTES.md,
# runtime/LOGS.md): one Redis can then serve several platforms, or test runs, apart.
PAAS_REDIS_PREFIX = redis_prefix()
PAAS_RUN_TIME_LIMIT_S = env_int("PAAS_RUN_TIME_LIMIT_S", 3600, 1)
PAAS_SCALE_TO_ZERO_IDLE_S = env_int("PAAS_SCALE_TO_ZERO_IDLE_S", 300, 1)
# Before that, after this long, it sleeps frozen (control/sleep.py): no CPU, memory kept, woken at once.
PAAS_FREEZE_IDLE_S = env_int("PAAS_FREEZE_IDLE_S", 30, 1)
# Stopped instances are kept this long (how far back `paas usage` reaches), then deleted.
PAAS_INSTANCE_RETENTION_DAYS = env_int("PAAS_INSTANCE_RETENTION_DAYS", 400, 1)
PAAS_START_TIMEOUT_S = env_int("PAAS_START_TIMEOUT_S", 60, 1)
# Before the start timeout counts, a host may take this long more to fetch a release's image.
PAAS_PREPARE_TIMEOUT_S = env_int("PAAS_PREPARE_TIMEOUT_S", 300, 1)
PAAS_HOST_DOWN_AFTER_S = env_int("PAAS_HOST_DOWN_AFTER_S", 30, 2)
# CPU shares may be over-committed (idle apps use little); memory never is.
PAAS_CPU_OVERCOMMIT = env_float("PAAS_CPU_OVERCOMMIT", 4.0, 1.0)

ALLOWED_HOSTS = env_list("PAAS_ALLOWED_HOSTS", "*")

DATABASES = {"default": parse_database_url(env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paas"))}
REDIS_URL = check_redis_url(env_str("REDIS_URL", "redis://127.0.0.1:6379/0"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "paas.platform.apps.PlatformConfig",
    "paas.web.apps.WebConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "paas.platform.api.errors.JsonErrorMiddleware",
]

ROOT_URLCONF = "paas.platform.urls"
WSGI_APPLICATION = "paas.platform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Every authenticate() call, whoever makes it (API login, admin, console), goes
# through the login throttle (actions/login_throttle.py).
AUTHENTICATION_BACKENDS = ["paas.platform.actions.login_throttle.ThrottledModelBackend"]

# Checked wherever a password is set: accounts made through the API or CLI
# (actions/users.py), the first admin (bootstrap.py), admin's forms, manage.py.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# The console (web/) sends people who are not logged in here.
LOGIN_URL = "/console/login/"
STATIC_ROOT = PAAS_DATA_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SECURE = PRODUCTION
# Through the router at paas.<base-domain> a request that came over TLS says so in X-Forwarded-Proto,
# which the router always writes itself (never the client's); the plain ports are on loopback, out
# of instances' reach. Django then knows the request is secure (CSRF's Origin check, secure cookies).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_COOKIE_SECURE = PRODUCTION

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("PAAS_LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# Celery reads every CELERY_* name below through config_from_object(namespace="CELERY").
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800, 10)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1740, 10)
CELERY_TASK_DEFAULT_QUEUE = "default"
# The build queue's name: a test run uses its own so no other worker takes its builds.
PAAS_BUILD_QUEUE = env_str("PAAS_BUILD_QUEUE", "builds")
# Backups (services/tasks.py) have a queue and a worker of their own: an hour-long pg_dump and its
# scratch verification never hold a build worker's slot, nor a build a backup's.
PAAS_BACKUP_QUEUE = env_str("PAAS_BACKUP_QUEUE", "backups")
CELERY_TASK_ROUTES = {"paas.platform.tasks.builds.*": {"queue": PAAS_BUILD_QUEUE},
                      "paas.services.tasks.*": {"queue": PAAS_BACKUP_QUEUE},
                      # ACME orders too: seconds of waiting on the CA, retried by the control loop.
                      "paas.platform.tasks.acme.*": {"queue": PAAS_BUILD_QUEUE},
                      # The image store's collection: the build worker shares the control host's store.
                      "paas.platform.tasks.images.*": {"queue": PAAS_BUILD_QUEUE}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# The Log Center's own settings (logcenter/settings.py), which the API reads for its log endpoints:
# checked here so a bad PAAS_LOG_* value stops every platform process at start, with its name, rather
# than failing the log endpoints later.
from paas.logcenter.settings import Settings as _LogCenterSettings  # noqa: E402

_LogCenterSettings.from_env()
