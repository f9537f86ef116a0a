"""PulseCRM settings: one module, configured by environment variables (DESIGN rule 10).

With nothing set, the embedded defaults just work: an SQLite file under var/,
eager Celery tasks, a local-memory cache and the console email backend.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PULSE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default="SECRET_KEY" not in os.environ)
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "pulse.core",
    "pulse.accounts",
    "pulse.audit",
    "pulse.extras",
    "pulse.contacts",
    "pulse.imports",
    "pulse.segments",
    "pulse.privacy",
    "pulse.leads",
    "pulse.currencies",
    "pulse.opportunities",
    "pulse.activities",
    "pulse.reports",
]

MIDDLEWARE = [
    "pulse.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "pulse.core.middleware.SessionRefreshMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pulse.core.middleware.TenantMiddleware",
]

ROOT_URLCONF = "pulse.urls"
WSGI_APPLICATION = "pulse.wsgi.application"
ASGI_APPLICATION = "pulse.asgi.application"

# Selects are built in Python, not one template include per option (pulse/core/renderers.py).
FORM_RENDERER = "pulse.core.renderers.PulseFormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "pulse" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "pulse.core.context_processors.shell",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'pulse.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers proceed while one writer writes; IMMEDIATE avoids
        # "database is locked" upgrades from read to write inside a transaction.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": ""}  # in-memory test database
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A new connection per request costs ~25 ms (DESIGN); the psycopg pool reuses them.
    if env_bool("DATABASE_POOL", default=True):
        DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 8, "timeout": 10}}
        DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery ----------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL and os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel test processes (make test-pg) each get a Redis database of their own, so
    # one test's cache.clear() never empties another's cache: worker gwN uses db base+1+N.
    _base, _, _db = REDIS_URL.rpartition("/")
    if not _db.isdigit():
        _base, _db = REDIS_URL.rstrip("/"), "0"
    _worker = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw") or 0)
    REDIS_URL = f"{_base}/{int(_db or 0) + 1 + _worker}"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_PREFIX", "pulse"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Dashboard numbers are cached this long at most (0: never; the benchmark's cold rows).
REPORTS_CACHE_SECONDS = int(os.environ.get("REPORTS_CACHE_SECONDS", "60"))

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "purge-trash": {"task": "pulse.audit.tasks.purge_trash", "schedule": timedelta(hours=6)},
    # Retrains an organization's lead model when it is a day old or 10+ leads closed.
    "train-lead-models": {"task": "leads.train_predictive_all", "schedule": timedelta(hours=1)},
    # The forecast as it stands, per owner and category, for the movement chart and accuracy.
    "forecast-snapshots": {
        "task": "opportunities.forecast_snapshot_all",
        "schedule": timedelta(days=7),
    },
    # Due activity reminders: in-app and by email, each exactly once (activities.tasks).
    "activity-reminders": {
        "task": "activities.reminders_send_due",
        "schedule": timedelta(minutes=1),
    },
    # Two-way CalDAV sync of every enabled connection that is due (failing ones back off).
    "caldav-sync": {"task": "activities.caldav_sync_due", "schedule": timedelta(minutes=5)},
    # Scheduled reports that are due, emailed once each (reports.tasks).
    "report-schedules": {"task": "reports.schedules_send_due", "schedule": timedelta(minutes=5)},
}

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["pulse.accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "reports:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # one day
INVITATION_MAX_AGE = int(os.environ.get("INVITATION_MAX_AGE", 60 * 60 * 24 * 7))
# Idle sessions expire: the cookie is renewed as people work (at most every five minutes,
# SessionRefreshMiddleware) and dies this long after the last renewal.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 60 * 60 * 12))
LOGIN_THROTTLE_ATTEMPTS = int(os.environ.get("LOGIN_THROTTLE_ATTEMPTS", 5))
LOGIN_THROTTLE_WINDOW = int(os.environ.get("LOGIN_THROTTLE_WINDOW", 15 * 60))

# --- Email --------------------------------------------------------------------


def parse_email_url(url: str) -> dict:
    """EMAIL_URL=smtp://user:pass@host:port/?tls=1 (or smtps:// for implicit TLS)."""
    if not url:
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    if parsed.scheme in {"console", "locmem", "dummy"}:
        return {"EMAIL_BACKEND": f"django.core.mail.backends.{parsed.scheme}.EmailBackend"}
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname or "localhost",
        "EMAIL_PORT": parsed.port or (465 if parsed.scheme == "smtps" else 25),
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_SSL": parsed.scheme == "smtps",
        "EMAIL_USE_TLS": query.get("tls", ["0"])[0] in {"1", "true"},
    }


globals().update(parse_email_url(os.environ.get("EMAIL_URL", "")))

# --- Calendar sync ----------------------------------------------------------
# Seconds a CalDAV server may take to answer before a sync counts as failed (and backs off).
CALDAV_TIMEOUT = float(os.environ.get("PULSE_CALDAV_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "PulseCRM <noreply@pulsecrm.local>")

# --- i18n, static, media ------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("bg", "Български")]
LOCALE_PATHS = [BASE_DIR / "pulse" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start without it
NODE_MODULES = BASE_DIR / "node_modules"
# Front-end libraries come from npm at set-up and are served as they are (no bundler).
STATICFILES_DIRS = [
    BASE_DIR / "pulse" / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
    ("vendor/sortablejs", NODE_MODULES / "sortablejs"),
    ("vendor/tom-select", NODE_MODULES / "tom-select" / "dist"),
    ("vendor/fullcalendar", NODE_MODULES / "fullcalendar"),  # the calendar page
    ("vendor/fullcalendar-core", NODE_MODULES / "@fullcalendar" / "core"),  # its translations
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Explicit, so that tests (which run with DEBUG off) do not index every static file
# again for each test client: with autorefresh, files are looked up per request.
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# Requests larger than this are refused with 400 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# Imports: uploads larger than FILE_UPLOAD_MAX_MEMORY_SIZE stream to a temporary file and
# are then copied to MEDIA_ROOT/imports/ in chunks (never read whole into memory);
# files above this size are refused with a clear message (a 1,000,000-row CSV is ~150 MB).
IMPORT_MAX_FILE_SIZE = int(os.environ.get("IMPORT_MAX_FILE_SIZE", 512 * 1024 * 1024))
FILE_UPLOAD_PERMISSIONS = 0o640
MAX_LOGO_SIZE = 1024 * 1024

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pulse.accounts.authentication.ApiTokenAuthentication",
        "pulse.accounts.authentication.OrganizationJWTAuthentication",
        "pulse.accounts.authentication.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pulse.core.api_defaults.IsOrganizationMember"],
    "DEFAULT_PAGINATION_CLASS": "pulse.core.api_defaults.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pulse.core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["pulse.core.api_defaults.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "credential": os.environ.get("API_THROTTLE_RATE", "1200/min"),
        "auth": os.environ.get("API_AUTH_THROTTLE_RATE", "20/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Behind N reverse proxies, the client address is taken from X-Forwarded-For.
    "NUM_PROXIES": int(os.environ["NUM_PROXIES"]) if os.environ.get("NUM_PROXIES") else None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PulseCRM API",
    "DESCRIPTION": "REST API of PulseCRM. Everything the web UI does, an integrator can do here.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema describes shapes, not data: readable before signing in.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI assets are served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets several fields share get one name each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "OpportunityStatusEnum": "pulse.opportunities.models.StageType",
        "OpportunityContactRoleEnum": "pulse.opportunities.models.ContactRole",
        "MemberRoleEnum": "pulse.accounts.models.Role",
        "ApiTokenStatusEnum": ["active", "expired", "revoked"],
        "ActivityTypeEnum": "pulse.activities.models.ActivityType",
        "ActivityStatusEnum": "pulse.activities.models.ActivityStatus",
        "ActivityPriorityEnum": "pulse.activities.models.Priority",
        "DashboardScopeEnum": "pulse.reports.models.DashboardScope",
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY", SECRET_KEY),
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# CORS is off unless origins are named.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

# --- Security (production) ------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Cookies travel over HTTPS only. SECURE_COOKIES=0 is for plain HTTP on the loopback
    # (the benchmark and load test's gunicorn): a Secure cookie is never sent back there.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 30))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # Preloading is a long-term commitment for the whole domain: operators opt in with
    # SECURE_HSTS_PRELOAD=1. Until then check --deploy's reminder (W021) is silenced.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
# SQLite ignores INCLUDE columns of covering indexes (W040: the index still works) and
# cannot declare a unique constraint with NULLS NOT DISTINCT (W047: the services validate
# it, PostgreSQL enforces it); both are expected with the embedded default.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    SILENCED_SYSTEM_CHECKS = [
        *globals().get("SILENCED_SYSTEM_CHECKS", []),
        "models.W040",
        "models.W047",
    ]
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Logging: one structured line per request, with its request id ---------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "pulse.core.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "pulse.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
