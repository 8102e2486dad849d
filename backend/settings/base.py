"""Settings shared by every runtime; everything that differs between machines comes from the environment.

Two runtimes share this file: the embedded default (SQLite, no Redis: Celery runs tasks eagerly
in-process and the cache is local memory) and production (PostgreSQL, Redis, Celery workers).
"""

from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Citizen IDs and phone numbers are encrypted with these Fernet keys (first one encrypts, all
# decrypt, so a key can be rotated) and looked up through an HMAC with a key of its own, so that
# rotating the encryption key never changes the lookup hashes.
IDENTIFIER_ENCRYPTION_KEYS = env.list("IDENTIFIER_ENCRYPTION_KEYS", default=[])
IDENTIFIER_HASH_KEY = env.str("IDENTIFIER_HASH_KEY", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "treebeard",
    "import_export",
    "axes",
    "auditlog",
    "fieldteam",
]

MIDDLEWARE = [
    # First: REMOTE_ADDR becomes the client's address (NUM_PROXIES applied, always valid) and the
    # forgeable X-Forwarded-* headers go, for every later reader (fieldteam.client_address).
    "fieldteam.client_address.ClientAddressMiddleware",
    # Read-only requests may read from a replica; writers stay on the primary (no-op without replicas).
    "backend.db_routing.ReplicaReadsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Compressed answers from the app itself (a dashboard's HTML is ~60 KB, a tenth gzipped), with or
    # without nginx in front. BREACH: Django's GZip adds random bytes to every compressed answer
    # ("Heal the BREACH", Django 4.2+) and masks the CSRF token anew on each page, so pages that
    # hold the token are compressed too. Static files come precompressed from WhiteNoise
    # (CompressedStaticFilesStorage), which this then leaves alone (Content-Encoding already set).
    "django.middleware.gzip.GZipMiddleware",
    # Content-Security-Policy on every response (the CSP section below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # 400 for a control character in a query string, path, session cookie, Authorization header or
    # page form post, before anything (the session, a view, a filter) sends it to a query.
    "fieldteam.control_characters.ControlCharacterMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Names the signed-in user (and address) on the audit entries a request makes.
    "fieldteam.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Rate limits of the sign-in forms and the searches of the pages (fieldteam.ratelimit).
    "fieldteam.ratelimit.RateLimitMiddleware",
    # Last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
AUTH_USER_MODEL = "fieldteam.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Site-wide overrides of other apps' templates (the admin's base_site.html: its accessibility sheet).
        "DIRS": [BASE_DIR / "backend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers go on while one writer writes; a busy writer waits instead of failing.
    # IMMEDIATE transactions take the write lock at BEGIN, so two writers queue instead of one
    # failing when it upgrades a read lock ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Optional streaming replicas (backend/db_routing.py, docs/deploy.md): the reads of read-only requests
# (GET/HEAD under REPLICA_READ_PATHS) go to one within REPLICA_MAX_LAG_SECONDS; whoever wrote stays
# on the primary for READ_YOUR_WRITES_SECONDS. In tests each replica mirrors default (its NAME
# becomes the test database's, which a real replica receives by streaming).
DATABASE_REPLICAS: list[str] = []
for _number, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _replica = env.db_url_config(_url)
    _replica.update({"ATOMIC_REQUESTS": False, "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"]})
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica{_number}")
if DATABASE_REPLICAS:
    DATABASE_ROUTERS = ["backend.db_routing.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=5.0)
READ_YOUR_WRITES_SECONDS = env.int("READ_YOUR_WRITES_SECONDS", default=30)
REPLICA_READ_PATHS = ["/dashboards/", "/api/v1/"]
# pgbouncer in transaction mode (PGBOUNCER=1, DATABASE_URL pointing at it): no server-side cursors,
# which belong to one server connection (Django prepares no statement by default either); the
# session advisory locks (fieldteam/locks.py) go through DATABASE_DIRECT_URL, a connection straight
# to PostgreSQL, when it is set.
if env.bool("PGBOUNCER", default=False):
    for _alias in ("default", *DATABASE_REPLICAS):
        DATABASES[_alias]["DISABLE_SERVER_SIDE_CURSORS"] = True
if env.str("DATABASE_DIRECT_URL", default=""):
    DATABASES["direct"] = env.db_url_config(env.str("DATABASE_DIRECT_URL"))
    DATABASES["direct"].update({"ATOMIC_REQUESTS": False, "CONN_MAX_AGE": None, "TEST": {"MIRROR": "default"}})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Fails open (reads miss, writes are dropped) while Redis is away, so that nothing on the
    # request path depends on Redis: see fieldteam/cache.py. Short timeouts: an unreachable
    # Redis must cost a request milliseconds.
    CACHES = {
        "default": {
            "BACKEND": "fieldteam.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date convention, dd/mm/yyyy and HH:MM, over Django's own Vietnamese formats.
FORMAT_MODULE_PATH = ["backend.formats"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
MEDIA_URL = "media/"
LOGIN_URL = "admin:login"

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without Redis, tasks run in-process so that nothing else is needed to run the app.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# At least once: a message is acknowledged after its task ran, given back if the worker dies,
# and redelivered by Redis if not acknowledged within the visibility timeout (longer than the
# longest task: a province import). Every task is idempotent (fieldteam/tasks.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": 5,
}
# Running late-ack tasks are cancelled when the broker connection is lost (their message comes
# back anyway); a worker keeps retrying the broker however long Redis is away.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Queues (docs/deploy.md): the roll-up (nightly recompute, month close, mask checks: one task per
# province, so workers share a country's provinces), imports, reports (reports and exports: a
# month-end burst of commune reports waits in its own queue and never delays the roll-up) and
# default (the rest). A worker started without -Q consumes all four (one machine, as before).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = {name: {"routing_key": name} for name in ("default", "rollup", "imports", "reports")}
_ROLLUP = {"queue": "rollup"}
CELERY_TASK_ROUTES = {
    "fieldteam.tasks.recompute_all_provinces": _ROLLUP,
    "fieldteam.tasks.recompute_province": _ROLLUP,
    "fieldteam.tasks.close_months": _ROLLUP,
    "fieldteam.tasks.roll_month_forward": _ROLLUP,
    "fieldteam.tasks.check_all_capability_masks": _ROLLUP,
    "fieldteam.tasks.check_capability_masks": _ROLLUP,
    "fieldteam.tasks.run_import_job": {"queue": "imports"},
    "fieldteam.tasks.generate_report": {"queue": "reports"},
    "fieldteam.tasks.run_export_job": {"queue": "reports"},
    "fieldteam.tasks.deliver_reports": {"queue": "reports"},
}
# /health/ reports beat as failing when its heartbeat (every minute) is older than this.
FIELDTEAM_BEAT_MAX_AGE_SECONDS = env.int("BEAT_MAX_AGE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {"task": "fieldteam.tasks.beat_heartbeat", "schedule": 60.0},
    # Jobs whose message never reached Redis, or that Redis lost, are sent again.
    "requeue-pending-jobs": {"task": "fieldteam.tasks.requeue_pending_jobs", "schedule": 300.0},
    "rollup-recompute-nightly": {
        "task": "fieldteam.tasks.recompute_all_provinces",
        "schedule": crontab(hour=1, minute=30),
    },
    # The safety net under the masks the counts and the logging path trust (Sunday night).
    "capability-masks-weekly": {
        "task": "fieldteam.tasks.check_all_capability_masks",
        "schedule": crontab(day_of_week="sunday", hour=2, minute=0),
    },
    "rollup-close-month": {
        "task": "fieldteam.tasks.close_months",
        "schedule": crontab(day_of_month="1", hour=0, minute=10),
    },
    # The reports of approved months to their subscribers (also sent right after each approval).
    "deliver-reports": {"task": "fieldteam.tasks.deliver_reports", "schedule": 900.0},
    # Retention: old log notes, departed residents' identifiers, old job files (FIELDTEAM_RETENTION_*).
    "purge-expired-personal-data": {
        "task": "fieldteam.tasks.purge_expired_personal_data",
        "schedule": crontab(hour=2, minute=30),
    },
}

# --- Email -------------------------------------------------------------------------------------
# The reports of approved months (fieldteam.services.subscriptions). Printed to the console unless
# EMAIL_URL (smtp+tls://user:password@host:587, smtp+ssl://...:465 for implicit TLS) or EMAIL_HOST names a
# mail server; EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS and
# EMAIL_USE_SSL override the URL's parts (docs/deploy.md).
_EMAIL = env.email_url("EMAIL_URL", default="consolemail://")
if env.str("EMAIL_HOST", default=""):
    _EMAIL["EMAIL_BACKEND"] = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = env.str("EMAIL_HOST", default=_EMAIL.get("EMAIL_HOST") or "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=_EMAIL.get("EMAIL_PORT") or 25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default=_EMAIL.get("EMAIL_HOST_USER") or "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default=_EMAIL.get("EMAIL_HOST_PASSWORD") or "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=bool(_EMAIL.get("EMAIL_USE_TLS", False)))
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=bool(_EMAIL.get("EMAIL_USE_SSL", False)))
# A mail server that does not answer must not hold a worker (nor the subscription's row lock) for long.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="fieldteam@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an unauthenticated request then gets a 401 with "WWW-Authenticate: Token".
    # Session authentication (the mobile web) enforces CSRF on every unsafe method.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fieldteam.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "fieldteam.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "fieldteam.api.exceptions.exception_handler",
    # Per user (per address before sign-in); scoped rates for the expensive or sensitive endpoints:
    # a batch sync, the exact-identifier search (no enumerating phone numbers), token sign-in.
    # Counters live in the cache: shared by all workers with Redis, per process without it.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
        "fieldteam.ratelimit.SearchRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
        "sync": env.str("API_THROTTLE_SYNC", default="120/min"),
        "identifier_search": env.str("API_THROTTLE_IDENTIFIER_SEARCH", default="30/min"),
        "login": env.str("API_THROTTLE_LOGIN", default="20/min"),
        # Name searches (API ``?q=``, the mobile web and admin search boxes), per user.
        "search": env.str("API_THROTTLE_SEARCH", default="120/min"),
        # Citizen IDs checked against the register by a registration or correction, on every route
        # (API, sync: each item's number, admin), per user: no enumerating numbers by registering.
        "identifier_check": env.str("API_THROTTLE_IDENTIFIER_CHECK", default="500/day"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers with a JSON depth limit, refusing control characters in any field (400).
    "DEFAULT_PARSER_CLASSES": [
        "fieldteam.api.parsers.JSONParser",
        "fieldteam.api.parsers.FormParser",
        "fieldteam.api.parsers.MultiPartParser",
    ],
}

# How many proxies in front of this server set X-Forwarded-For (fieldteam.client_address): the
# client is that many entries from its right; 0 (the embedded server, reached directly) ignores
# the header. Used by the rate limits, the login lockout and the audit trail alike.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES

# The OpenAPI schema (/api/v1/schema/) and its Swagger UI (/api/v1/docs/) without sign-in: on for
# developers, off by default in production (backend/settings/production.py).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)

# --- Content-Security-Policy (django-csp) ------------------------------------------------------
# Everything from this server: no CDN, no inline script or style (the pages' behaviour is in
# static files; a template that needs an inline block gives it ``nonce="{{ request.csp_nonce }}"``).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    # drf-spectacular's Swagger page has an inline script and style; until it is served by
    # SpectacularSwaggerSplitView (script from a URL) it goes without the policy. It shows no data.
    "EXCLUDE_URL_PREFIXES": ["/api/v1/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "fieldteam API",
    "DESCRIPTION": (
        "Field work of the community digital-technology teams: areas, teams, households and residents, "
        "assistance logs, training sessions, offline batch sync and indicator values. Every object "
        "outside your scope answers 404; identifiers (citizen ID, phone) are always returned masked; "
        'errors answer {"errors": {field: [messages]}, "codes": {field: [codes]}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from this server's static files (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AreaKindEnum": "fieldteam.choices.AreaKind",
        "ConsentChannelEnum": "fieldteam.choices.ConsentChannel",
        "AssistanceChannelEnum": "fieldteam.choices.AssistanceChannel",
        "ReadingStatusEnum": "fieldteam.selectors.status.STATUSES",
        "ReportFormatEnum": "fieldteam.choices.ReportFormat",
    },
}

# --- Login lockout: by user name and address together, since many phones share a carrier address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A translated 429 (axes' own answer is an English sentence).
AXES_LOCKOUT_CALLABLE = "fieldteam.ratelimit.lockout_response"
# The address the lockout counts by: the trusted one, as everywhere (fieldteam.client_address).
AXES_CLIENT_IP_CALLABLE = "fieldteam.client_address.client_address"

# --- Audit trail (fieldteam.audit): django-auditlog with its entries in fieldteam's own table.
AUDITLOG_LOGENTRY_MODEL = "fieldteam.AuditEntry"
# django-auditlog's own migrations create its stock table even when the entry model is swapped;
# fieldteam's 0005 migration makes the one in use, so auditlog's are not run at all.
MIGRATION_MODULES = {"auditlog": None}
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_MASK_CALLABLE = "fieldteam.audit.changes.hide"
# auditlog's default, stated so that the type checker sees the setting the bulk audit reads
# (fieldteam.audit.changes): foreign keys are recorded by primary key.
AUDITLOG_USE_FK_STRING_REPRESENTATION = False

# --- fieldteam --------------------------------------------------------------------------------
# Birth dates known only by year are counted as born on 1 July of that year (the mid-year
# convention of population statistics) when ages are computed for indicators.
FIELDTEAM_YEAR_ONLY_BIRTH_MONTH = 7
# A running background job silent for this long lost its worker and is queued again.
# Field work (fieldteam.rollup.fastlog): on PostgreSQL an assistance log is written by one
# prepared statement; false sends every log the ORM way (the same rows, about a dozen statements).
FIELDTEAM_LOG_IN_ONE_STATEMENT = env.bool("LOG_IN_ONE_STATEMENT", default=True)
FIELDTEAM_JOB_STALE_MINUTES = env.int("JOB_STALE_MINUTES", default=15)
# Retention periods in days (fieldteam.services.privacy.purge_expired, nightly): free-text notes
# of assistance logs, identifiers of residents who moved out or died, files of finished jobs.
FIELDTEAM_RETENTION_NOTES_DAYS = env.int("RETENTION_NOTES_DAYS", default=730)
FIELDTEAM_RETENTION_IDENTIFIERS_DAYS = env.int("RETENTION_IDENTIFIERS_DAYS", default=365)
FIELDTEAM_RETENTION_JOB_FILES_DAYS = env.int("RETENTION_JOB_FILES_DAYS", default=30)
# Uploaded spreadsheets (fieldteam/spreadsheets/reading.py) are refused beyond these, before being
# parsed: the file's size, what an .xlsx unpacks to (zip bombs), data rows, columns.
FIELDTEAM_UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=50 * 1024 * 1024)
FIELDTEAM_SPREADSHEET_MAX_UNCOMPRESSED_BYTES = env.int("SPREADSHEET_MAX_UNCOMPRESSED_BYTES", default=320 * 1024 * 1024)
FIELDTEAM_SPREADSHEET_MAX_ROWS = env.int("SPREADSHEET_MAX_ROWS", default=200_000)
FIELDTEAM_SPREADSHEET_MAX_COLUMNS = env.int("SPREADSHEET_MAX_COLUMNS", default=300)

# LOG_FORMAT=json: one JSON object per line (fieldteam/logging.py), the production default.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "fieldteam.logging.JsonFormatter"},
    },
    # A refused request (4xx) is one line, without the traceback Django attaches (fieldteam/logging.py).
    "filters": {"client_errors": {"()": "fieldteam.logging.ClientErrorWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("LOG_FORMAT", default="plain"),
            "filters": ["client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes says "BEGIN version ..." at INFO on every start, so every command printed it.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": env.str("AXES_LOG_LEVEL", default="WARNING")},
    },
}
