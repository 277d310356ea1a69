"""SECRET_KEY and the encryption keys are required when DEBUG is off: a fresh process
started without them must refuse to start, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.pop("SECRETS_ENCRYPTION_KEYS", None)
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_it_refuses_to_start_without_secret_key():
    result = _start({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.slow
def test_it_refuses_to_start_without_encryption_keys():
    result = _start({"DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "SECRETS_ENCRYPTION_KEYS is required" in result.stderr


@pytest.mark.slow
def test_it_refuses_a_malformed_encryption_key():
    result = _start({"SECRET_KEY": "x" * 50, "SECRETS_ENCRYPTION_KEYS": "not-a-key"})
    assert result.returncode != 0
    assert "Fernet keys" in result.stderr


@pytest.mark.slow
def test_it_starts_with_debug_and_no_keys():
    assert _start({"DEBUG": "1"}).returncode == 0
