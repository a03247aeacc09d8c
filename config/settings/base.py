"""Settings shared by every environment.

This package is the only reader of ``os.environ`` in the project (STYLE.md, convention 8). Without any
environment the service runs as the demo: a SQLite file next to manage.py, eager Celery tasks and the
console email backend.
"""

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Demo default only; production.py refuses to start without DJANGO_SECRET_KEY.
SECRET_KEY = env("DJANGO_SECRET_KEY", "modelgov-demo-insecure-secret-key-change-me-in-production")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = (env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver") or "").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "core",
    "governance",
    "registry",
    "monitoring",
    "hooks",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.middleware.MetricsMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = "config.wsgi.application"

DEMO_DATABASE_URL = f"sqlite:///{BASE_DIR / 'modelgov-demo.sqlite3'}"
DATABASE_URL = env("DATABASE_URL", DEMO_DATABASE_URL) or DEMO_DATABASE_URL
# Persistent connections: connecting per request costs ~6x in throughput (DESIGN.md, Runtime).
DATABASES: dict[str, Any] = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# SQLite (the demo) ignores an index's INCLUDE columns; the index itself is still made and used.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# django-guardian creates an anonymous user row; we never grant it anything.
ANONYMOUS_USER_NAME = "AnonymousUser"
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Bodies over 1 MiB are refused with 413 before they are read (core.middleware.BodySizeLimitMiddleware).
MAX_REQUEST_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first: its WWW-Authenticate header makes anonymous API calls a 401, not a 403.
        "governance.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.DefaultPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "modelgov API",
    "DESCRIPTION": "Governance and audit compliance for machine-learning models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc assets are served from our own static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: with no broker configured, tasks run in-process (demo only).
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
# False: an eager task's self.retry() must run its retries inline (demo mode) instead of raising.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(env("EMAIL_PORT", "25") or 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "modelgov@localhost")

# Per-app settings: one dict with defaults (STYLE.md, convention 8).
MODELGOV: dict[str, Any] = {
    "SITE_URL": env("MODELGOV_SITE_URL", "http://127.0.0.1:8000"),
    # How often an API token's last_used_at is refreshed: one write per token per interval, not per request.
    "TOKEN_LAST_USED_RESOLUTION_SECONDS": 60,
    "TOKEN_DEFAULT_EXPIRY_DAYS": 90,
    # Service signing keys (Ed25519 PEM files, one per purpose); `manage.py init_keys` creates missing ones.
    "KEY_DIR": env("MODELGOV_KEY_DIR", str(BASE_DIR / "var" / "keys")),
    # The transparency log's identity in its checkpoints (C2SP tlog-checkpoint origin line).
    "LOG_ORIGIN": env("MODELGOV_LOG_ORIGIN", "modelgov.local/audit-log"),
    "LOG_KEY_NAME": env("MODELGOV_LOG_KEY_NAME", "modelgov.local/audit-log"),
    "CHECKPOINT_EVERY_ENTRIES": 1000,
    "CHECKPOINT_EVERY_SECONDS": 60,
    # Email retries wait base * 2**attempt seconds (5 retries: 30 s ... 16 min).
    "EMAIL_RETRY_BASE_SECONDS": float(env("MODELGOV_EMAIL_RETRY_BASE_SECONDS", "30") or 30),
    "EXPIRY_REMINDER_DAYS": 30,
    # Plugin names (entry-point names or built-in names) that must never be loaded.
    "PLUGIN_BLOCKLIST": [name for name in (env("MODELGOV_PLUGIN_BLOCKLIST", "") or "").split(",") if name],
}

CELERY_BEAT_SCHEDULE = {
    "audit-log-integrate": {"task": "governance.tasks.audit_log_integrate_task", "schedule": 5.0},
    "audit-log-checkpoint": {
        "task": "governance.tasks.audit_checkpoint_create_task",
        "schedule": float(MODELGOV["CHECKPOINT_EVERY_SECONDS"]),
    },
    "approval-expiry": {"task": "governance.tasks.approval_expire_task", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
