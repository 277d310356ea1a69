"""Settings for the test suite: the production settings with test defaults for required
variables, and PostgreSQL (the DEVELOPERS.md machine's) unless DATABASE_URL says otherwise."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("SECRETS_ENCRYPTION_KEYS", "u1lbbMHmF6v0Ah8ZBZ5G3p8yPbmQ8Nq6e3PfkwBq3xM=")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("PUBLIC_BASE_URL", "https://triggers.example.test")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Tests do not serve static files; WhiteNoise would warn that STATIC_ROOT is not built.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405
