"""Tandem settings, read from the environment.

Embedded default (nothing set): SQLite file under var/, Celery's broker in another SQLite file there.
Production: DATABASE_URL=postgres://..., CELERY_BROKER_URL=redis://..., REDIS_CACHE_URL=redis://...
"""
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TANDEM_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    "insecure-dev-key-set-SECRET_KEY-in-production" if DEBUG or "DATABASE_URL" not in os.environ else None
)
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DATABASE_URL is set and DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "annotate",
    "curation",
    "workers",
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
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

DATABASE_URL = os.environ.get("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")))}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "tandem.sqlite3",
            # WAL + a busy timeout let the in-process worker and the web server share the file.
            "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["annotate.auth_backend.UserBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("TANDEM_MEDIA_ROOT", VAR_DIR / "media"))
ARTIFACTS_DIR = Path(os.environ.get("TANDEM_ARTIFACTS_DIR", VAR_DIR / "artifacts"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tandem API",
    "DESCRIPTION": "Preference data built by people and LM judges in tandem: projects, snapshots and TRL-ready exports.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Celery. No task runs inside a web request:
# - CELERY_BROKER_URL set (production, e.g. redis://...): the workers you start (config/celery.py);
# - unset (the embedded default): a broker in a SQLite file under var/ (kombu's SQLAlchemy
#   transport, no server process), served by the worker `./tandem demo` starts beside the web server;
# - TANDEM_EAGER_TASKS=1: tasks run synchronously in the calling process. The test suite's settings
#   (config/test_settings.py) and debugging only: a long job would hold its request.
# Results are never read (a run's state, progress and metrics live in its TaskRun row).
EMBEDDED_BROKER_URL = f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or EMBEDDED_BROKER_URL
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", os.environ.get("CELERY_BROKER_URL") or None)
CELERY_TASK_ALWAYS_EAGER = env_bool("TANDEM_EAGER_TASKS")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
if CELERY_BROKER_URL == EMBEDDED_BROKER_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The SQLAlchemy transport passes its options to create_engine: only a busy timeout here, so the
    # server and the worker can both write the file. A worker killed mid-task leaves its message
    # taken; the stale-run sweeper (workers/tasks/runs.py, on a timer in every worker) re-sends it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 20}}
else:
    # visibility_timeout: how long an unacknowledged message (a task whose worker died) waits before
    # Redis hands it to another worker; keep it above the longest task. The restore interval/throttle
    # say how often workers look for such messages (lowered in the worker tests).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
        "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
        "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "10")),
    }

# OpenAI-compatible judge servers: base URL per judge, key from the environment variable the judge names.
JUDGE_HTTP_TIMEOUT = float(os.environ.get("JUDGE_HTTP_TIMEOUT", "120"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Cache (dashboard figures, sessions): with REDIS_CACHE_URL set, one Redis cache shared by every web
# worker; sessions are read from it and written through to the database, so no request spends a
# database query on its session. Unset: a per-process memory cache and database sessions.
REDIS_CACHE_URL = os.environ.get("REDIS_CACHE_URL", "")
if REDIS_CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
