"""Settings for the test suite: the production settings with test defaults for required
variables, and PostgreSQL at 127.0.0.1:5432 (database ``test``, which bin/services starts)
unless DATABASE_URL says otherwise. ``TEST_DATABASE=sqlite`` runs it on bin/run's embedded
default instead: a SQLite file and the filesystem broker, both in the suite's VAR_DIR."""

import os
from pathlib import Path

# The suite never reads a developer's var/local.env (bin/run's keys, an operator's
# DATABASE_URL): its own VAR_DIR, which holds no local.env, is forced here and inherited
# by the processes tests start, so a result does not depend on whether bin/run ran here.
os.environ["VAR_DIR"] = str(Path(__file__).resolve().parent.parent / "var" / "test")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("SECRETS_ENCRYPTION_KEYS", "u1lbbMHmF6v0Ah8ZBZ5G3p8yPbmQ8Nq6e3PfkwBq3xM=")
_RUN = os.environ.get("TEST_DATABASE_NAME") or "main"
EMBEDDED = os.environ.get("TEST_DATABASE", "postgresql") == "sqlite"
if EMBEDDED:
    # A file, not SQLite's in-memory test database: the workers the tests start share it.
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{os.environ['VAR_DIR']}/{_RUN}.sqlite3")
    os.environ.setdefault("CELERY_BROKER_URL", "filesystem://")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("PUBLIC_BASE_URL", "https://triggers.example.test")
# An https:// public URL turns the HTTPS settings on (config/settings.py); the test client
# speaks plain HTTP to the app, which must not redirect it.
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# Real Redis; each test run (see TEST_DATABASE_NAME below) gets a queue of its own, so
# parallel runs never take each other's messages. Worker subprocesses inherit both.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_QUEUE", f"tests-{_RUN}")

from config.settings import *  # noqa: E402, F403 - after the environment it reads

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test process keeps its own cache: parallel runs on one Redis never see each other's
# login-failure counters (tests that count clear it first).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Tests do not serve static files; WhiteNoise would warn that STATIC_ROOT is not built.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405

# Parallel test runs on one machine (several checkouts, helpers) each need their own
# database: pytest-django creates and drops it.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}  # noqa: F405
if EMBEDDED:
    # The test database is a file beside the main one, which worker subprocesses open by name.
    DATABASES["default"]["TEST"]["NAME"] = f"{VAR_DIR}/test_{_RUN}.sqlite3"  # noqa: F405
    for _folder in ("broker", "broker-control"):  # bin/run makes them for the service
        (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)  # noqa: F405
    # Workers look for new message files ten times a second, not once: the tests wait less.
    CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"] = 0.1  # noqa: F405
