"""The service's own ``manage.py check --deploy`` warnings, and the rules they share with
the code that enforces them.

Registered when the config package is imported (config/__init__.py), so every command
that checks sees them.
"""

from django.conf import settings
from django.core import checks


def metrics_token_required(*, debug: bool, num_proxies: int) -> bool:
    """Whether /metrics answers only ``Authorization: Bearer <METRICS_TOKEN>``.

    A loopback address proves nothing behind a proxy on the same host (README's nginx: every
    request comes from 127.0.0.1), nor on a production install, where such a proxy is
    expected; only a development install (DEBUG) with no proxy lets loopback scrape freely.
    When the token is required and unset, /metrics refuses every request (403).
    """
    return num_proxies > 0 or not debug


def num_proxies() -> int:
    return int(settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0)


@checks.register(checks.Tags.security, deploy=True)
def check_metrics_token(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    required = metrics_token_required(debug=settings.DEBUG, num_proxies=num_proxies())
    if not required or settings.METRICS_TOKEN:
        return []
    return [
        checks.Warning(
            "METRICS_TOKEN is not set: with DEBUG off or NUM_PROXIES > 0, /metrics answers "
            "only Authorization: Bearer <METRICS_TOKEN>, so it refuses every scrape (403).",
            hint="Set METRICS_TOKEN and give the scraper that bearer token (docs/ops-console.md).",
            id="config.W001",
        )
    ]
