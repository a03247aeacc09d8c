"""Production settings: every secret must be present at start-up, not at first use."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import env

for required in ("DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"):
    if env(required) is None:
        raise ImproperlyConfigured(f"{required} must be set in production")

from pathlib import Path  # noqa: E402

from core.signing import KeyPurpose  # noqa: E402

_missing_keys = [p.value for p in KeyPurpose if not (Path(MODELGOV["KEY_DIR"]) / f"{p.value}.pem").is_file()]  # noqa: F405
if _missing_keys:
    raise ImproperlyConfigured(f"service keys missing in MODELGOV_KEY_DIR: {', '.join(_missing_keys)}")

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
