"""Ready-made `signatureVerification` configs for well-known webhook senders.

Each factory returns a fresh, complete config (see signatures.py) that verify_signature accepts
for requests signed the way that sender's own library signs them; docs/webhooks.md shows the
same four written out, for a management API client that sends the object without a preset
name. Use `secret_keys_for` to turn the secret string a provider shows its users into the
HMAC keys to try.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from typing import Any

STANDARD_WEBHOOKS_SECRET_PREFIX = "whsec_"


def _config(
    *,
    encoding: str,
    signature: dict[str, Any],
    components: list[dict[str, Any]],
    separator: str,
    timestamp: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "algorithm": "sha256",
        "encoding": encoding,
        "signature": {"prefix": None, "regex": None, **signature},
        "signedComponents": [
            {"key": None, "value": None, "regex": None, "required": True, **c} for c in components
        ],
        "componentJoin": {"strategy": "concatenate", "separator": separator},
        "validation": {
            "allowEmptyBody": False,
            "headerCaseSensitive": False,
            "normalizeUnicode": False,
        },
        "timestamp": timestamp,
    }


def github() -> dict[str, Any]:
    """GitHub: X-Hub-Signature-256 is `sha256=` + hex HMAC-SHA256 of the body. No timestamp."""
    return _config(
        encoding="hex",
        signature={"source": "header", "key": "X-Hub-Signature-256", "prefix": "sha256="},
        components=[{"source": "body"}],
        separator="",
        timestamp=None,
    )


_STRIPE_TIMESTAMP = r"(?:^|,)\s*t=(\d+)"


def stripe() -> dict[str, Any]:
    """Stripe: Stripe-Signature `t=<unix>,v1=<hex>[,v1=<hex>...]` over `{t}.{body}`."""
    return _config(
        encoding="hex",
        # Every v1 entry is a candidate: Stripe sends one per active secret while rolling them.
        signature={
            "source": "header",
            "key": "Stripe-Signature",
            "regex": r"(?:^|,)\s*v1=([^,\s]+)",
        },
        components=[
            {"source": "header", "key": "Stripe-Signature", "regex": _STRIPE_TIMESTAMP},
            {"source": "body"},
        ],
        separator=".",
        timestamp={
            "source": "header",
            "key": "Stripe-Signature",
            "regex": _STRIPE_TIMESTAMP,
            "format": "unix",
        },
    )


def slack() -> dict[str, Any]:
    """Slack: X-Slack-Signature `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    return _config(
        encoding="hex",
        signature={"source": "header", "key": "X-Slack-Signature", "prefix": "v0="},
        components=[
            {"source": "literal", "value": "v0"},
            {"source": "header", "key": "X-Slack-Request-Timestamp"},
            {"source": "body"},
        ],
        separator=":",
        timestamp={
            "source": "header",
            "key": "X-Slack-Request-Timestamp",
            "regex": None,
            "format": "unix",
        },
    )


def standard_webhooks() -> dict[str, Any]:
    """Standard Webhooks: webhook-signature `v1,<b64>[ v1,<b64>...]` over `{id}.{ts}.{body}`."""
    return _config(
        encoding="base64",
        signature={"source": "header", "key": "webhook-signature", "regex": r"(?:^|\s)v1,(\S+)"},
        components=[
            {"source": "header", "key": "webhook-id"},
            {"source": "header", "key": "webhook-timestamp"},
            {"source": "body"},
        ],
        separator=".",
        timestamp={"source": "header", "key": "webhook-timestamp", "regex": None, "format": "unix"},
    )


PRESETS: dict[str, Callable[[], dict[str, Any]]] = {
    "github": github,
    "stripe": stripe,
    "slack": slack,
    "standard_webhooks": standard_webhooks,
}


def preset_config(name: str) -> dict[str, Any]:
    """A fresh config for preset `name`; ValueError naming the known presets otherwise."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown signature preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None


# Where each sender puts the id that stays the same when it retries a delivery.
_IDEMPOTENCY: dict[str, dict[str, str]] = {
    "github": {"source": "header", "key": "X-GitHub-Delivery"},
    "stripe": {"source": "body", "path": "id"},  # the event id, e.g. evt_1
    "slack": {"source": "body", "path": "event_id"},  # Events API envelopes
    "standard_webhooks": {"source": "header", "key": "webhook-id"},
}


def preset_idempotency_spec(name: str | None) -> dict[str, str] | None:
    """The idempotency spec (see idempotency.py) that deduplicates preset `name`'s retries."""
    spec = _IDEMPOTENCY.get(name or "")
    return dict(spec) if spec else None


def secret_bytes_for(preset: str | None, secret: str) -> bytes:
    """The HMAC key for `secret` as the sender's dashboard shows it.

    Standard Webhooks secrets are `whsec_<base64>` and the key is the decoded bytes (ValueError
    if it is not base64). Every other preset, and no preset, uses the UTF-8 bytes of the string;
    note Stripe's secrets also start with `whsec_` but are used as-is.
    """
    if preset != "standard_webhooks":
        return secret.encode("utf-8")
    encoded = secret.removeprefix(STANDARD_WEBHOOKS_SECRET_PREFIX)
    try:
        # Pad: some senders show the base64 without its trailing "=".
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError("Standard Webhooks secret must be 'whsec_' followed by base64") from exc
    if not key:
        raise ValueError("Standard Webhooks secret must not be empty")
    return key


def secret_keys_for(preset: str | None, secret: str) -> tuple[bytes, ...]:
    """The HMAC keys to try for one secret line.

    A named preset reads it as `secret_bytes_for` does. Without a preset the config does not
    say who signs, so a `whsec_<base64>` secret is tried both ways: as written (Stripe's
    `whsec_…` secrets, used as is) and base64-decoded (Standard Webhooks). Either key comes
    from the same secret, so accepting both lets no one in who does not hold it.
    """
    if preset is not None:
        return (secret_bytes_for(preset, secret),)
    keys = [secret.encode("utf-8")]
    if secret.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
        # Not base64: only the string itself is the key.
        with contextlib.suppress(ValueError):
            keys.append(secret_bytes_for("standard_webhooks", secret))
    return tuple(keys)
