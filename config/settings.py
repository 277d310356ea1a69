"""Settings: the only module that reads the environment (through config.env helpers).

Every variable is documented in README.md ("Configuration").
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, env_str, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
# bin/run keeps the generated keys (and operators may keep DATABASE_URL & co.) in
# var/local.env; reading it here lets every command see them, not only bin/run's children.
# Read before any other variable; the real environment wins over the file.
load_env_file(VAR_DIR / "local.env")

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Webhook URLs handed to senders are built from this, never from the request's Host
# header, so a spoofed Host cannot make the service advertise someone else's domain.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def _secrets_encryption_keys() -> list[str]:
    """Fernet keys for secrets at rest; the first encrypts, all decrypt (rotation)."""
    keys = env_list("SECRETS_ENCRYPTION_KEYS", [])
    if keys:
        for key in keys:
            try:
                if len(base64.urlsafe_b64decode(key.encode())) != 32:
                    raise ValueError
            except ValueError:
                raise ImproperlyConfigured(
                    "SECRETS_ENCRYPTION_KEYS must be comma-separated Fernet keys "
                    "(32 url-safe base64-encoded bytes each)"
                ) from None
        return keys
    if not DEBUG:
        raise ImproperlyConfigured("SECRETS_ENCRYPTION_KEYS is required when DEBUG is off")
    derived = hashlib.sha256(f"secrets:{SECRET_KEY}".encode()).digest()
    return [base64.urlsafe_b64encode(derived).decode()]


SECRETS_ENCRYPTION_KEYS = _secrets_encryption_keys()

# Password for the "admin" superuser that `manage.py ensure_admin` creates on first run.
INITIAL_ADMIN_PASSWORD = env_str("INITIAL_ADMIN_PASSWORD")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "triggers",
    "executions",
    "polling",  # after executions: its admin extends the trigger admin registered there
    "webhooks",
    "flows",
    "watcher",
    "providers",
    "alerts",  # above every app it observes (docs/architecture.md)
    "axes",  # admin login lockout (accounts/admin_login.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.UnstorablePathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns an admin login lockout into its page (accounts/admin_login.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# API paths have no trailing slash; a trailing slash is accepted by the routes themselves.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that polls the socket instead of a SELECT 1
    # per request (config/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
# A pool of at most this many connections per process (psycopg's pool through Django); 0:
# one connection per thread, kept CONN_MAX_AGE. The agent worker (bin/run) sets it: its
# threads, a thousand calls in flight, take a connection only to claim and to store.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 0, minimum=0)
if DATABASES["default"]["ENGINE"] == "config.postgresql" and env_bool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    # Parameters bound by the server, and a statement run 5 times on a connection prepared:
    # planning a lookup on the trigger table (20 indexes) costs PostgreSQL 3x more CPU than
    # running it. Off for a pooler that cannot keep prepared statements (PgBouncer < 1.21,
    # or transaction mode without max_prepared_statements).
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "config.postgresql":
    # A pooled connection goes back to the pool when closed; Django keeps none across
    # requests or tasks then (CONN_MAX_AGE 0), and a thread waits for a free one at most
    # `timeout` seconds.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 30,
    }  # fmt: skip
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Indexes with INCLUDE columns (executions' list indexes) are PostgreSQL's covering indexes;
# SQLite, the embedded default, builds them without the extra columns, which is correct,
# only less fast, so its warning on every command is noise.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsTenantMember"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "api.openapi.SurfaceAutoSchema",
    # Errors are mapped once and written in each surface's own format (api/errors.py).
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The APIs speak JSON only; form encodings are refused with 415. The parser refuses
    # values PostgreSQL cannot store with a 400 naming the field (api/storable.py).
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StorableJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Throttles count clients by REMOTE_ADDR, or behind this many trusted proxies by the
    # address they saw (X-Forwarded-For); never by a header a client can send itself.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

# Lists count their rows exactly up to this many; above, the total is PostgreSQL's estimate
# and the answer says so (api/counting.py).
LIST_EXACT_COUNT_LIMIT = env_int("LIST_EXACT_COUNT_LIMIT", 10_000, minimum=1)

# Observability (config/observability.py, docs/ops-console.md): with METRICS_TOKEN set, /metrics
# answers only "Authorization: Bearer <METRICS_TOKEN>", from anywhere. Without it, loopback only
# with DEBUG on and NUM_PROXIES 0, else nothing (`check --deploy` warns: config/checks.py).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# /readyz fails the scheduler check when Beat has not beaten for this long.
READYZ_SCHEDULER_MAX_AGE_SECONDS = env_int("READYZ_SCHEDULER_MAX_AGE_SECONDS", 60, minimum=1)
# The most executions one bulk replay of the admin takes (executions/services/replays.py).
BULK_REPLAY_MAX = env_int("BULK_REPLAY_MAX", 10_000, minimum=1)

SPECTACULAR_SETTINGS = {
    "TITLE": "Agent trigger service API",
    "DESCRIPTION": "Triggers decide when an AI agent runs; executions record every run.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets ship with the service: the docs page works without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["api.openapi.strip_optional_trailing_slash"],
    "ENUM_NAME_OVERRIDES": {
        "TriggerStatusEnum": "triggers.api.frontend_enums.FrontendTriggerStatus",
        "ExecutionStatusEnum": "executions.api.frontend_enums.FrontendExecutionStatus",
        "TriggerTypeEnum": "triggers.api.frontend_enums.FrontendTriggerType",
        "NodeTypeEnum": "flows.node_types.NODE_TYPE_NAMES",
        "NodeTypeCategoryEnum": "flows.node_types.CATEGORY_IDS",
        "FlowParameterTypeEnum": "flows.parameters.PARAMETER_TYPES",
        "AlertEventEnum": "alerts.api.frontend_filters.TENANT_EVENT_CHOICES",
    },
}

# -- Authentication ------------------------------------------------------------------------
# The OAuth2 password flow's tokens (POST /token) are valid this long.
OAUTH_TOKEN_TTL_SECONDS = env_int("OAUTH_TOKEN_TTL_SECONDS", 3600, minimum=60)
# After this many failed logins of one username from one address within the window, that
# username from that address waits for the window to end (accounts/throttling.py).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 300, minimum=1)
# Failed bearer-token authentications per client address: past it, 429 with Retry-After
# (accounts/authentication.py). "<n>/<s|min|hour|day>".
THROTTLE_FAILED_TOKENS = env_rate("THROTTLE_FAILED_TOKENS", "30/min")
# "Run now" (the management API's rerun, the admin's action) per trigger: past it, 429 with
# Retry-After (executions/services/firing.py). The frontend API's test runs are not counted.
THROTTLE_RUN_NOW = env_rate("THROTTLE_RUN_NOW", "10/min")
# Admin logins (django-axes): after this many failures of one username from one address, that
# username from that address waits ADMIN_LOGIN_COOLOFF_MINUTES, or until
# `manage.py axes_reset_username <name>` (the pair: accounts/admin_login.py says why).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "accounts.admin_login.AdminLoginHandler"
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.admin_login.client_address"
AXES_VERBOSE = False

# -- HTTPS (README, "Production") ------------------------------------------------------------
# When the public URL is https://, the service sits behind a TLS-terminating proxy: cookies
# go over HTTPS only, browsers are told to stay on HTTPS (HSTS), plain HTTP is redirected,
# and the proxy's X-Forwarded-Proto says whether a request came over HTTPS (the proxy must
# set it, overwriting the client's). Each can be set apart.
_HTTPS = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # a load balancer's plain-HTTP health check
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _HTTPS)
if env_bool("TRUST_X_FORWARDED_PROTO", _HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A failed CSRF check on an API path answers in that surface's JSON (config/views.py).
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

# -- Celery: the embedded default is a filesystem broker in var/ (one machine, no Redis) --
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
CELERY_TIMEZONE = "UTC"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _BROKER_DIR = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR),
        "data_folder_out": str(_BROKER_DIR),
        "control_folder": str(VAR_DIR / "broker-control"),
    }
else:
    # A message a worker took but did not ack (it died) comes back after this long; the
    # sweeper's timeout handles the execution itself, this only bounds the message.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # Publishing gives up after one quick retry (see CELERY_TASK_PUBLISH_RETRY).
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "executions")
# Control work (the sweeper, the dispatcher's periodic pass, retention's prune) has a queue of
# its own, read by a worker of its own (bin/run starts one), so it never waits behind runs or
# polls. A worker started without -Q consumes every queue.
CELERY_CONTROL_QUEUE = env_str("CELERY_CONTROL_QUEUE", "") or f"{CELERY_TASK_DEFAULT_QUEUE}-control"
# Agent runs (an agent runner that waits on its agent: http, openai) have a queue of their
# own, read by the agent worker: a Celery worker with a pool of threads, each call waiting
# in one thread, so one process keeps AGENT_WORKER_CONCURRENCY calls in flight (bin/run;
# docs/runners.md). Instant runs (dry_run batches) and polls stay on CELERY_QUEUE's prefork
# worker.
CELERY_AGENT_QUEUE = env_str("CELERY_AGENT_QUEUE", "") or f"{CELERY_TASK_DEFAULT_QUEUE}-agents"
AGENT_WORKER_CONCURRENCY = env_int("AGENT_WORKER_CONCURRENCY", 1000, minimum=1)
CELERY_TASK_QUEUES = {
    CELERY_TASK_DEFAULT_QUEUE: {},
    CELERY_CONTROL_QUEUE: {},
    CELERY_AGENT_QUEUE: {},
}
CELERY_TASK_ROUTES = {
    "executions.tasks.sweep_executions": {"queue": CELERY_CONTROL_QUEUE},
    "executions.tasks.dispatch_executions": {"queue": CELERY_CONTROL_QUEUE},
    "alerts.tasks.detect_alerts": {"queue": CELERY_CONTROL_QUEUE},
    "executions.tasks.prune_executions": {"queue": CELERY_CONTROL_QUEUE},
}
# Counters every web process must share (login throttling) live in Redis when the broker is
# Redis; the embedded setup has one machine and uses each process's memory.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": CELERY_BROKER_URL, "KEY_PREFIX": "triggers"}
    }  # fmt: skip
# Ack after the run, so a worker killed mid-run gives its message back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection after every task unless told to
# reuse it: reconnecting cost a dry_run execution more than its own queries. Kept for this
# many tasks (closed every 2x as many), and after any error (lifecycle.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100, minimum=0)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A broker that is down must not hang the request or the scheduler: publishing fails fast,
# the execution stays pending in the database and the sweeper enqueues it later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
EXECUTION_PRUNE_INTERVAL_SECONDS = env_int("EXECUTION_PRUNE_INTERVAL_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "sweep-executions": {
        "task": "executions.tasks.sweep_executions",
        "schedule": env_int("EXECUTION_SWEEP_INTERVAL_SECONDS", 30, minimum=1),
        "options": {"queue": CELERY_CONTROL_QUEUE},
    },
    # The dispatcher's safety net: retries whose backoff is over, anything a pass missed.
    "dispatch-executions": {
        "task": "executions.tasks.dispatch_executions",
        "schedule": env_int("EXECUTION_DISPATCH_INTERVAL_SECONDS", 2, minimum=1),
        "options": {"queue": CELERY_CONTROL_QUEUE},
    },
    # Retention: finished executions past their tenant's retention, a few seconds a pass. A
    # pass not started within its interval is dropped (the next one does its work), so a
    # control worker that was down does not come back to hours of passes queued back to back
    # (django-celery-beat's option; executions/beat.py's scheduler is one of its).
    "prune-executions": {
        "task": "executions.tasks.prune_executions",
        "schedule": EXECUTION_PRUNE_INTERVAL_SECONDS,
        "options": {
            "queue": CELERY_CONTROL_QUEUE,
            "expire_seconds": EXECUTION_PRUNE_INTERVAL_SECONDS,
        },
    },
}

# -- The execution engine (docs/scheduling.md) ----------------------------------------
# A slot fired at most this late counts as on time; older ones follow the misfire policy.
SCHEDULER_MISFIRE_GRACE_SECONDS = env_int("SCHEDULER_MISFIRE_GRACE_SECONDS", 60, minimum=1)
# Triggers claimed per transaction by one scheduler pass (and polls by one claim). 1,000
# stored a 100,000-trigger herd about twice as fast as 200: fewer commits and round trips,
# rows locked for a few tenths of a second (docs/benchmarks.md, the herd).
SCHEDULER_BATCH_SIZE = env_int("SCHEDULER_BATCH_SIZE", 1000, minimum=1)
# Beat wakes at least this often (seconds), and at every trigger's next slot.
SCHEDULER_MAX_SLEEP_SECONDS = env_int("SCHEDULER_MAX_SLEEP_SECONDS", 5, minimum=1)
# A running execution with no result after this long is taken as lost (its worker died).
EXECUTION_TIMEOUT_SECONDS = env_int("EXECUTION_TIMEOUT_SECONDS", 900, minimum=1)
# Event firings' run messages are published together, this many ms after the first of a
# batch (executions/dispatch.py); 0 publishes each one at once.
EXECUTION_PUBLISH_BATCH_MS = env_int("EXECUTION_PUBLISH_BATCH_MS", 10, minimum=0)
# Fair dispatch (executions/dispatch.py, docs/scheduling.md): at most this many executions
# of instant runners (dry_run) in flight (handed to the broker, not finished); the rest wait
# in the database. Set it to about twice the concurrency of the run workers together.
EXECUTION_MAX_IN_FLIGHT = env_int("EXECUTION_MAX_IN_FLIGHT", 64, minimum=1)
# ... and at most this many agent runs (http, openai): the agent workers' threads together
# (AGENT_WORKER_CONCURRENCY each), so none waits in the broker behind a busy worker.
AGENT_MAX_IN_FLIGHT = env_int("AGENT_MAX_IN_FLIGHT", AGENT_WORKER_CONCURRENCY, minimum=1)
# Per tenant and per trigger (a trigger's max_concurrency overrides the latter); 0: no limit.
EXECUTION_TENANT_MAX_IN_FLIGHT = env_int("EXECUTION_TENANT_MAX_IN_FLIGHT", 0, minimum=0)
EXECUTION_TRIGGER_MAX_IN_FLIGHT = env_int("EXECUTION_TRIGGER_MAX_IN_FLIGHT", 0, minimum=0)
# Executions whose runner answers at once (dry_run) travel up to this many per run message,
# started and stored together by the worker; 1: one per message. Others always go alone.
EXECUTION_RUN_BATCH_SIZE = env_int("EXECUTION_RUN_BATCH_SIZE", 16, minimum=1)
# Dispatch classes, first served first: execution types, "," within a class, ";" between.
# "backfill" names a backfill's slots (scheduled executions fired on purpose, up to
# BACKFILL_MAX_SLOTS at once, docs/scheduling.md): last by default, so a backfill of a
# thousand slots takes the places nobody else is waiting for instead of holding them all.
_EXECUTION_TYPES = {"scheduled", "manual", "webhook", "slack", "polling", "file_system"}
_EXECUTION_TYPES |= {"backfill"}
EXECUTION_DISPATCH_CLASSES = [
    [kind.strip() for kind in group.split(",") if kind.strip()]
    for group in env_str(
        "EXECUTION_DISPATCH_CLASSES",
        "scheduled,manual;webhook,slack,polling,file_system;backfill",
    ).split(";")
]
if not set().union(*map(set, EXECUTION_DISPATCH_CLASSES)) <= _EXECUTION_TYPES:
    raise ImproperlyConfigured(
        f"EXECUTION_DISPATCH_CLASSES names only {', '.join(sorted(_EXECUTION_TYPES))}"
    )
# A dispatched execution no worker started within this long, while the workers took
# messages published after it (or the run queue is empty), was lost: it is published again.
EXECUTION_REQUEUE_AFTER_SECONDS = env_int("EXECUTION_REQUEUE_AFTER_SECONDS", 60, minimum=1)
EXECUTION_RETRY_BASE_SECONDS = env_int("EXECUTION_RETRY_BASE_SECONDS", 10, minimum=0)
EXECUTION_RETRY_MAX_SECONDS = env_int("EXECUTION_RETRY_MAX_SECONDS", 600, minimum=1)
# The most slots one backfill fires (executions/services/backfill.py); a longer range is a
# 400 that says how many it has and where the first BACKFILL_MAX_SLOTS end.
BACKFILL_MAX_SLOTS = env_int("BACKFILL_MAX_SLOTS", 1000, minimum=1)
# Retention (docs/scheduling.md, "Retention"): finished executions (completed, failed,
# cancelled) that finished more than this many days ago are deleted by a Beat task on the
# control queue; 0 keeps them forever. A tenant may have its own (the admin's tenant page).
EXECUTION_RETENTION_DAYS = env_int("EXECUTION_RETENTION_DAYS", 30, minimum=0)
# Rows deleted per transaction by that task: short transactions, no long lock.
EXECUTION_PRUNE_BATCH_SIZE = env_int("EXECUTION_PRUNE_BATCH_SIZE", 1000, minimum=1)
# After this many consecutive failed executions a trigger is frozen as failed.
TRIGGER_FAILURE_THRESHOLD = env_int("TRIGGER_FAILURE_THRESHOLD", 5, minimum=1)
# The most an agent's answer may store (its output, as JSON; the http runner reads no more of
# the response): larger fails the execution with the reason.
EXECUTION_OUTPUT_MAX_BYTES = env_int("EXECUTION_OUTPUT_MAX_BYTES", 2 * 1024 * 1024, minimum=1024)

# -- Runners: how an execution reaches its agent (docs/runners.md) ---------------------
AGENT_RUNTIME_URL = env_str("AGENT_RUNTIME_URL", "")
AGENT_RUNTIME_SIGNING_SECRET = env_str("AGENT_RUNTIME_SIGNING_SECRET", "")
AGENT_RUNTIME_TIMEOUT_SECONDS = env_int("AGENT_RUNTIME_TIMEOUT_SECONDS", 120, minimum=1)
# A runner waiting for its answer checks this often whether its execution was cancelled,
# and then interrupts the request (executions/runners/exchange.py).
EXECUTION_CANCEL_CHECK_SECONDS = env_int("EXECUTION_CANCEL_CHECK_SECONDS", 1, minimum=1)
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "")
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
OPENAI_DEFAULT_MODEL = env_str("OPENAI_DEFAULT_MODEL", "")
EXECUTION_RUNNER = env_str("EXECUTION_RUNNER", "") or (
    "http" if AGENT_RUNTIME_URL else "openai" if OPENAI_BASE_URL else "dry_run"
)
if EXECUTION_RUNNER not in ("dry_run", "http", "openai"):
    raise ImproperlyConfigured(
        f"EXECUTION_RUNNER must be dry_run, http or openai, got {EXECUTION_RUNNER!r}"
    )
if EXECUTION_RUNNER == "http" and not (AGENT_RUNTIME_URL and AGENT_RUNTIME_SIGNING_SECRET):
    raise ImproperlyConfigured(
        "The http runner needs AGENT_RUNTIME_URL and AGENT_RUNTIME_SIGNING_SECRET (whsec_...)"
    )
if EXECUTION_RUNNER == "openai" and not OPENAI_BASE_URL:
    raise ImproperlyConfigured("The openai runner needs OPENAI_BASE_URL")
# Requests to tenant-given URLs may reach private/loopback addresses only when this is on.
ALLOW_PRIVATE_OUTBOUND = env_bool("ALLOW_PRIVATE_OUTBOUND", False)

# -- Polling triggers (docs/polling.md) --------------------------------------------------
# No trigger polls more often than this, whatever its polling_frequency says.
POLLING_MIN_INTERVAL_SECONDS = env_int("POLLING_MIN_INTERVAL_SECONDS", 60, minimum=1)
# One poll's request, redirects and reading the answer included.
POLLING_TIMEOUT_SECONDS = env_int("POLLING_TIMEOUT_SECONDS", 10, minimum=1)
# The largest answer a poll reads (after decompression); larger fails the poll.
POLLING_MAX_RESPONSE_BYTES = env_int("POLLING_MAX_RESPONSE_BYTES", 5 * 1024 * 1024, minimum=1024)
# The queue poll tasks go to (default: CELERY_QUEUE's); workers started with
# `-Q <POLLING_QUEUE>` then poll without waiting behind agent runs.
POLLING_QUEUE = env_str("POLLING_QUEUE", "") or CELERY_TASK_DEFAULT_QUEUE
# Polls handed to a worker in one task; it fetches their sources at the same time.
POLLING_POLLS_PER_TASK = env_int("POLLING_POLLS_PER_TASK", 10, minimum=1)
# A worker started without -Q (a plain `celery worker`) polls too.
CELERY_TASK_QUEUES[POLLING_QUEUE] = {}

# -- Alerts (docs/ops-console.md, "Alerts") ------------------------------------------------
# How often Beat's detection pass opens and closes episodes (and every worker of the control
# queue checks the scheduler's heartbeat: alerts/worker.py).
ALERTS_CHECK_INTERVAL_SECONDS = env_int("ALERTS_CHECK_INTERVAL_SECONDS", 60, minimum=1)
# Where notifications are sent from: by default the agent worker's queue, whose threads wait
# on an outside server without holding a process (and never behind the control queue).
ALERTS_QUEUE = env_str("ALERTS_QUEUE", "") or CELERY_AGENT_QUEUE
CELERY_TASK_QUEUES[ALERTS_QUEUE] = {}
CELERY_TASK_ROUTES["alerts.tasks.send_notification"] = {"queue": ALERTS_QUEUE}
# One send (a Slack or webhook POST: connection, headers, body) ends within this; then it
# is retried, at most ALERTS_SEND_MAX_RETRIES times, ALERTS_SEND_RETRY_BASE_SECONDS doubled
# after each failure (at most an hour).
ALERTS_SEND_TIMEOUT_SECONDS = env_int("ALERTS_SEND_TIMEOUT_SECONDS", 10, minimum=1)
ALERTS_SEND_MAX_RETRIES = env_int("ALERTS_SEND_MAX_RETRIES", 5, minimum=0)
ALERTS_SEND_RETRY_BASE_SECONDS = env_int("ALERTS_SEND_RETRY_BASE_SECONDS", 30, minimum=0)
# The conditions (alerts/conditions.py): executions pending this long after they could run;
# the scheduler's (the watcher's) heartbeat this old; a poll that failed this many times in a
# row, or is this overdue.
ALERTS_WAITING_SECONDS = env_int("ALERTS_WAITING_SECONDS", 600, minimum=1)
ALERTS_SCHEDULER_MAX_AGE_SECONDS = env_int("ALERTS_SCHEDULER_MAX_AGE_SECONDS", 120, minimum=1)
ALERTS_WATCHER_MAX_AGE_SECONDS = env_int("ALERTS_WATCHER_MAX_AGE_SECONDS", 120, minimum=1)
ALERTS_POLL_STALE_FAILURES = env_int("ALERTS_POLL_STALE_FAILURES", 3, minimum=1)
ALERTS_POLL_OVERDUE_SECONDS = env_int("ALERTS_POLL_OVERDUE_SECONDS", 900, minimum=1)
CELERY_BEAT_SCHEDULE["detect-alerts"] = {
    "task": "alerts.tasks.detect_alerts",
    "schedule": ALERTS_CHECK_INTERVAL_SECONDS,
    "options": {"queue": CELERY_CONTROL_QUEUE},
}
# Email alerts go through Django's mail backend: SMTP to EMAIL_HOST by default.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one")
# Each SMTP operation (connect, each command) waits at most this long.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "agent-triggers@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ALERTS_FROM_EMAIL = env_str("ALERTS_FROM_EMAIL", "") or DEFAULT_FROM_EMAIL

# -- Time limits of every task: the safety net behind each outbound deadline -----------------
# A task still running at its soft limit gets SoftTimeLimitExceeded (a run's attempt fails
# with the reason and is retried; a poll task's polls are done again at their next poll);
# 30 s later its worker process is killed and replaced (the sweeper takes its run back).
# A run's and a poll task's limits are a minute past their deadlines; every other task (the
# sweeper, the dispatch pass, replays) has TASK_TIME_LIMIT_SECONDS.
_KILL_AFTER_SECONDS = 30
EXECUTION_TASK_TIME_LIMIT_SECONDS = env_int(
    "EXECUTION_TASK_TIME_LIMIT_SECONDS", AGENT_RUNTIME_TIMEOUT_SECONDS + 60, minimum=1
)
POLLING_TASK_TIME_LIMIT_SECONDS = env_int(
    "POLLING_TASK_TIME_LIMIT_SECONDS", POLLING_TIMEOUT_SECONDS + 60, minimum=1
)
TASK_TIME_LIMIT_SECONDS = env_int("TASK_TIME_LIMIT_SECONDS", 600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = TASK_TIME_LIMIT_SECONDS
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT_SECONDS + _KILL_AFTER_SECONDS
CELERY_TASK_ANNOTATIONS = {
    name: {"soft_time_limit": limit, "time_limit": limit + _KILL_AFTER_SECONDS}
    for name, limit in (
        ("executions.tasks.run_execution", EXECUTION_TASK_TIME_LIMIT_SECONDS),
        ("polling.tasks.poll_triggers", POLLING_TASK_TIME_LIMIT_SECONDS),
        ("alerts.tasks.send_notification", ALERTS_SEND_TIMEOUT_SECONDS + 60),
    )
}

# LOG_FORMAT=json: one JSON object a line, with the execution's ids (config/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logs.JsonLinesFormatter"}},
    "filters": {
        # Webhook tokens and trigger keys in a logged URL keep 4 characters
        # (config/secret_paths.py).
        "secret_paths": {"()": "config.secret_paths.MaskSecretPaths"},
        # Celery's line per task message and Beat's per periodic task sent, unless DEBUG:
        # the engine writes one line per execution start and end instead (config/logs.py).
        "quiet_task_lines": {"()": "config.logs.QuietTaskLines"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["secret_paths", *(["quiet_task_lines"] if LOG_LEVEL != "DEBUG" else [])],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}


# -- Watched folders (docs/watcher.md) ---------------------------------------------------
def _file_watch_roots() -> list[Path]:
    """The folders a file_system trigger's watch_path must lie in (after symlinks)."""
    roots = env_list("FILE_WATCH_ROOTS", [])
    if not roots:
        return [(VAR_DIR / "watched").absolute()]
    relative = [root for root in roots if not Path(root).is_absolute()]
    if relative:
        raise ImproperlyConfigured(
            f"FILE_WATCH_ROOTS must be absolute paths, got {', '.join(relative)}"
        )
    return [Path(root) for root in roots]


FILE_WATCH_ROOTS = _file_watch_roots()

# -- Webhooks (docs/webhooks.md) -------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1)
# A signed timestamp further than this from now is a replay (401).
WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS = env_int("WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS", 300, minimum=1)
# Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE; the webhook limit decides instead.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2621440, WEBHOOK_MAX_BODY_BYTES)
# Request headers never stored on an execution (nor readable by a message template), besides
# Authorization, Cookie, Proxy-Authorization, X-API-Key and the trigger's own authentication
# and signature headers (webhooks/pipeline.py).
WEBHOOK_SECRET_HEADERS = env_list(
    "WEBHOOK_SECRET_HEADERS",
    ["X-Auth-Token", "X-Access-Token", "X-Api-Token", "X-Gitlab-Token", "X-Webhook-Secret",
     "X-Webhook-Token", "X-Shopify-Hmac-Sha256", "X-Hub-Signature", "X-Hub-Signature-256"],
)  # fmt: skip
# The most a rendered text may be (a task prompt, a webhook's messageTemplate): a template is
# refused when saved if it is certainly larger, and a delivery that would make it larger is
# refused (webhooks) or fails its execution with the reason (task prompts).
RENDERED_TEXT_MAX_BYTES = env_int("RENDERED_TEXT_MAX_BYTES", 256 * 1024, minimum=1024)
# Deliveries (/hooks/…) skip MIDDLEWARE, which serves browsers and the API, and run only
# these (config/handlers.py).
WEBHOOK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.UnstorablePathMiddleware",
]
# Signing secrets of the provider apps whose events arrive at /v1/webhooks/<provider> and are
# routed to the matching triggers (webhooks/app_events.py); unset: that URL answers 404.
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET", "")
GITHUB_WEBHOOK_SECRET = env_str("GITHUB_WEBHOOK_SECRET", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
# An outside account (Slack workspace, GitHub account, Stripe account) belongs to one tenant and
# its app events reach that tenant only (docs/provider-api.md). On an install with a single
# tenant, an account nobody claimed is bound to that tenant at its first event; a multi-tenant
# operator who starts with one tenant may turn that off.
OUTSIDE_ACCOUNTS_BIND_TO_ONLY_TENANT = env_bool("OUTSIDE_ACCOUNTS_BIND_TO_ONLY_TENANT", True)
