"""Production settings (issue 19, finding 7): `manage.py check --deploy` is clean with the
README's production environment, and README shows the buffering proxy and a systemd unit per
service that the findings call for."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.checks import check_metrics_token

ROOT = Path(__file__).resolve().parents[2]


def production_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """README's production variables (databases are not touched by `check`)."""
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}
    return {
        **{name: value for name, value in os.environ.items() if name in keep},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "VAR_DIR": str(tmp_path),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECRETS_ENCRYPTION_KEYS": "u1lbbMHmF6v0Ah8ZBZ5G3p8yPbmQ8Nq6e3PfkwBq3xM=",
        "ALLOWED_HOSTS": "triggers.example.com",
        "PUBLIC_BASE_URL": "https://triggers.example.com",
        "NUM_PROXIES": "1",
        "DATABASE_URL": "postgres://user:pass@db/triggers",
        "CELERY_BROKER_URL": "redis://redis:6379/0",
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        **extra,
    }


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    result = check_deploy(production_environment(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_https_settings_follow_the_public_url(tmp_path):
    plain = check_deploy(production_environment(tmp_path, PUBLIC_BASE_URL="http://10.0.0.5"))

    assert plain.returncode != 0
    for warning in ("W004", "W008", "W012", "W016"):  # HSTS, redirect, both cookies
        assert warning in plain.stderr + plain.stdout


def test_without_a_metrics_token_the_check_says_so(tmp_path):
    """Behind the README's nginx every request comes from loopback: /metrics needs its token
    (issue 25, finding 7), and without one it refuses every scrape."""
    result = check_deploy(production_environment(tmp_path, METRICS_TOKEN=""))

    assert result.returncode != 0
    assert "config.W001" in result.stderr + result.stdout
    assert "METRICS_TOKEN is not set" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("debug", "num_proxies", "token", "warned"),
    [(False, 0, "", True), (True, 1, "", True), (True, 0, "", False), (False, 1, "t", False)],
)
def test_the_metrics_token_check_follows_the_rule(settings, debug, num_proxies, token, warned):
    settings.DEBUG, settings.METRICS_TOKEN = debug, token
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}

    assert [w.id for w in check_metrics_token()] == (["config.W001"] if warned else [])


def production_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"^### Production\n(.*?)^## ", readme, re.DOTALL | re.MULTILINE).group(1)


def test_readme_puts_a_buffering_proxy_with_timeouts_in_front_of_gunicorn():
    section = production_section()
    [nginx] = re.findall(r"```nginx\n(.*?)```", section, re.DOTALL)

    directives = ["client_header_timeout", "client_body_timeout", "client_max_body_size",
                  "proxy_request_buffering on", "X-Forwarded-Proto", "X-Forwarded-For"]  # fmt: skip
    for directive in directives:
        assert directive in nginx
    assert "two bytes at a time" in " ".join(section.split())  # and says why


@pytest.mark.parametrize("service", ["web", "worker", "control", "agents", "beat", "watcher"])
def test_readme_shows_a_systemd_unit_per_service(service):
    [units] = re.findall(r"```ini\n(.*?)```", production_section(), re.DOTALL)

    assert f"/etc/systemd/system/triggers-{service}.service" in units
    assert "KillMode=mixed" in units
