"""URLs that carry a secret, masked before they are written to a log.

A webhook's URL is its secret (``/hooks/<token>``, and an agent API trigger's custom path
``/hooks/p/<path>``), and so is the key in the provider API's deprecated key endpoints
(``/organizations/<org>/triggers/<id>/<kind>/key/<api_key>``). Whoever reads the access log
must not be able to deliver with it: the secret part keeps its first 4 characters (enough to
tell deliveries apart; a trigger key's are its ``trk_`` prefix) when it has more than 8, and
``…`` replaces the rest. The query string after it is kept.

Used by gunicorn's access log (config/gunicorn.py) and by every log line Django's handlers
write (``MaskSecretPaths``, installed on the console handler in config/settings.py), such as
``Unauthorized: /hooks/<token>`` from ``django.request``.
"""

import logging
import re

KEPT_CHARACTERS = 4
# Shorter secrets (a custom path such as /hooks/p/news) are masked whole.
_KEEP_WHEN_LONGER_THAN = 8
_SECRET_PATH = re.compile(
    r"(?P<before>/hooks/(?:p/)?|/organizations/[^/\s?#]+/triggers/[^/\s?#]+/[^/\s?#]+/key/)"
    r"(?P<secret>[^\s?#\"']+)"
)


def _masked(match: re.Match) -> str:
    secret = match["secret"]
    kept = secret[:KEPT_CHARACTERS] if len(secret) > _KEEP_WHEN_LONGER_THAN else ""
    return f"{match['before']}{kept}…"


def mask_secret_paths(text: str) -> str:
    """``text`` with the secret of every webhook URL and key endpoint in it masked."""
    if "/hooks/" not in text and "/key/" not in text:  # the common case, without a regex
        return text
    return _SECRET_PATH.sub(_masked, text)


class MaskSecretPaths(logging.Filter):
    """A handler's filter: the record's message with its secret paths masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # the handler reports a message that cannot be formatted
            return True
        masked = mask_secret_paths(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
