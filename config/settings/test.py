"""Settings for the test suite: the real PostgreSQL, fast password hashing."""

import dj_database_url

from config.settings.base import *  # noqa: F403
from config.settings.base import env

TEST_DATABASE_URL = env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/modelgov_test")
DATABASES = {"default": dj_database_url.parse(TEST_DATABASE_URL or "", conn_max_age=0)}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In-memory mail unless a test (or the Celery worker a test starts) points at a real SMTP server.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
MODELGOV_TESTING = True

# Service keys for the test run: created on first use by tests/conftest.py, never committed.
MODELGOV = {**MODELGOV, "KEY_DIR": str(BASE_DIR / "var" / "test-keys")}  # noqa: F405
