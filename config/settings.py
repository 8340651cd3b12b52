"""Tandem settings, read from the environment.

Embedded default (nothing set): SQLite file under var/, Celery's broker in another SQLite file there.
Production: DATABASE_URL=postgres://..., CELERY_BROKER_URL=redis://..., REDIS_CACHE_URL=redis://...
"""

import os
import re
from pathlib import Path
from typing import Any

import dj_database_url

from config.security import content_security_policy, secret_key

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
# The embedded default (no DATABASE_URL) is a local install; TANDEM_DEMO=1 says the same of any other.
TANDEM_DEMO = env_bool("TANDEM_DEMO", not os.environ.get("DATABASE_URL"))
SECRET_KEY = secret_key(os.environ.get("SECRET_KEY"), DEBUG, TANDEM_DEMO, VAR_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "config.security.csrf_failure"

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
    "annotate.views.errors.ServiceErrorMiddleware",  # a refused service request → its message and 400/409
    "annotate.middleware.BidiControlsMiddleware",  # bidi controls in any page → visible markers
    "config.security.ContentSecurityPolicyMiddleware",
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
            "NAME": str(VAR_DIR / "tandem.sqlite3"),
            # WAL + a busy timeout let the in-process worker and the web server share the file.
            "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["annotate.auth_backend.UserBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (annotate.login_throttle): this many failures within the window, per username
# and per client address, lock that username or address out for the window.
LOGIN_FAILURE_LIMIT = int(os.environ.get("TANDEM_LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_IP_LIMIT = int(os.environ.get("TANDEM_LOGIN_FAILURE_IP_LIMIT", "20"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("TANDEM_LOGIN_LOCKOUT_SECONDS", "900"))
# Behind a proxy every request comes from the proxy's address: name the header it sets to the
# client's address (e.g. X-Forwarded-For, X-Real-IP) so the per-address limit sees clients.
TANDEM_CLIENT_IP_HEADER = os.environ.get("TANDEM_CLIENT_IP_HEADER", "")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotate:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# A local install (the demo) runs with DEBUG off too: WhiteNoise then serves static files straight
# from the app's folders, no collectstatic needed. Production runs collectstatic.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG or TANDEM_DEMO)
MEDIA_ROOT = Path(os.environ.get("TANDEM_MEDIA_ROOT", VAR_DIR / "media"))
ARTIFACTS_DIR = Path(os.environ.get("TANDEM_ARTIFACTS_DIR", VAR_DIR / "artifacts"))
# Similarity features' embeddings (curation.features.feature_encoder): auto = contextual MiniLM on a GPU,
# MiniLM's static token vectors on a CPU; or "static" / "contextual" everywhere.
FEATURE_EMBEDDINGS = os.environ.get("TANDEM_FEATURE_EMBEDDINGS", "auto")
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
# What an annotator may park on the server: a draft (all its fields, as JSON) and a free-text
# rationale, reason or edit (characters).
TANDEM_MAX_DRAFT_BYTES = int(os.environ.get("TANDEM_MAX_DRAFT_BYTES", str(100 * 1024)))
TANDEM_MAX_RATIONALE_CHARS = int(os.environ.get("TANDEM_MAX_RATIONALE_CHARS", str(10_000)))
TANDEM_MAX_EDIT_CHARS = int(os.environ.get("TANDEM_MAX_EDIT_CHARS", str(20_000)))
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Admin import uploads over this are refused before their body is read (README, "Importing data").
IMPORT_UPLOAD_MAX_BYTES = int(os.environ.get("TANDEM_IMPORT_UPLOAD_MAX_MB", "1024")) * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotate.views.errors.exception_handler",
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
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"connect_args": {"timeout": 20}}
else:
    # visibility_timeout: how long an unacknowledged message (a task whose worker died) waits before
    # Redis hands it to another worker; keep it above the longest task. The restore interval/throttle
    # say how often workers look for such messages (lowered in the worker tests).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
        "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
        "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "10")),
    }

# OpenAI-compatible judge servers (annotate/judging/endpoints.py). Keys: only those the deployment
# declares, TANDEM_JUDGE_KEYS="name=ENV_VAR,name2=ENV_VAR2"; a judge names a key by its name.
# Hosts on private, loopback or link-local addresses only when listed in TANDEM_JUDGE_ALLOWED_HOSTS
# ("host" or "host:port", comma-separated), e.g. a vLLM server on 127.0.0.1:8000.
JUDGE_HTTP_TIMEOUT = float(os.environ.get("JUDGE_HTTP_TIMEOUT", "120"))


def judge_keys(value):
    keys = {}
    for entry in filter(None, (part.strip() for part in (value or "").split(","))):
        name, sep, variable = (x.strip() for x in entry.partition("="))
        if (
            not sep
            or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name)
            or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable)
        ):
            raise RuntimeError(f"TANDEM_JUDGE_KEYS: {entry!r} is not name=ENV_VAR")
        keys[name] = variable
    return keys


JUDGE_KEYS = judge_keys(os.environ.get("TANDEM_JUDGE_KEYS"))
JUDGE_ALLOWED_HOSTS = env_list("TANDEM_JUDGE_ALLOWED_HOSTS", [])
# Extra judge backends (annotate/judging/backends.py): dotted paths of JudgeBackend subclasses,
# comma-separated, each registered under its `key`.
JUDGE_BACKENDS = env_list("TANDEM_JUDGE_BACKENDS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Cache (dashboard figures, sessions): with REDIS_CACHE_URL set, one Redis cache shared by every web
# worker; sessions are read from it and written through to the database, so no request spends a
# database query on its session. Unset (the embedded default): a file cache under var/, so the web
# process sees what the background worker computed (the dashboard figures), and database sessions.
REDIS_CACHE_URL = os.environ.get("REDIS_CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
}
if REDIS_CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# HTTPS. TANDEM_HTTPS=1 (the site is served over HTTPS) turns on, when DEBUG is off, secure cookies,
# HSTS and the redirect to HTTPS; each can still be set alone. Behind a proxy that terminates TLS,
# TANDEM_PROXY_SSL_HEADER names the header it sets (e.g. X-Forwarded-Proto): only set it when the
# proxy always overwrites that header.
TANDEM_HTTPS = env_bool("TANDEM_HTTPS", False)
_https = TANDEM_HTTPS and not DEBUG
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _https)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _https)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _https)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600 if _https else 0)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _https)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if os.environ.get("TANDEM_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + os.environ["TANDEM_PROXY_SSL_HEADER"].upper().replace("-", "_"), "https")
# Content-Security-Policy on every response (config.security); TANDEM_CSP replaces it whole.
CONTENT_SECURITY_POLICY = os.environ.get("TANDEM_CSP") or content_security_policy()
