"""Each preset accepts what the sender's real library signs, and rejects what it rejects.

Signatures come from stripe, slack_sdk and standardwebhooks themselves (and hmac for GitHub,
which ships no Python helper), so a preset that drifts from the real scheme fails here.
"""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import stripe
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.errors import Unauthorized
from webhooks.presets import PRESETS, preset_config, secret_bytes_for
from webhooks.signatures import validate_signature_config, verify_signature

BODY = json.dumps({"id": "evt_1", "text": "héllo"}, ensure_ascii=False).encode()
FLIPPED = BODY[:-2] + bytes([BODY[-2] ^ 0x01]) + BODY[-1:]
STALE = 6 * 60  # beyond the five-minute window


def verify(preset, *, headers, body=BODY, secrets, now=None):
    verify_signature(
        preset_config(preset),
        secrets=[secret_bytes_for(preset, s) for s in secrets],
        headers=headers,
        query={},
        body=body,
        now=now,
    )


def assert_rejected(preset, **kwargs):
    with pytest.raises(Unauthorized) as excinfo:
        verify(preset, **kwargs)
    assert excinfo.value.status == 401
    return excinfo.value


def test_flipped_body_differs_from_body():
    assert len(FLIPPED) == len(BODY)
    assert FLIPPED != BODY


# --- GitHub ------------------------------------------------------------------------------


GITHUB_SECRET = "It's a Secret to Everybody"


def github_headers(body=BODY, secret=GITHUB_SECRET):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "d-1"}


def test_github_matches_the_documented_example():
    # The test vector from GitHub's "Validating webhook deliveries" docs.
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {"X-Hub-Signature-256": f"sha256={digest}"}

    verify("github", headers=headers, body=b"Hello, World!", secrets=[GITHUB_SECRET])


def test_github_accepts_a_valid_signature():
    verify("github", headers=github_headers(), secrets=[GITHUB_SECRET])


def test_github_rejects_a_flipped_byte():
    error = assert_rejected(
        "github", headers=github_headers(), body=FLIPPED, secrets=[GITHUB_SECRET]
    )
    assert error.code == "invalid_signature"


def test_github_rejects_a_missing_header():
    error = assert_rejected("github", headers={"X-GitHub-Delivery": "d-1"}, secrets=[GITHUB_SECRET])
    assert error.code == "missing_signature"


def test_github_rejects_the_wrong_secret():
    assert_rejected("github", headers=github_headers(secret="other"), secrets=[GITHUB_SECRET])


def test_github_rejects_the_sha1_header_alone():
    digest = hmac.new(GITHUB_SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert_rejected(
        "github", headers={"X-Hub-Signature": f"sha1={digest}"}, secrets=[GITHUB_SECRET]
    )


def test_github_rotation_accepts_either_secret():
    verify("github", headers=github_headers(secret="new"), secrets=["old", "new"])


# --- Stripe ------------------------------------------------------------------------------


STRIPE_SECRET = "whsec_test_secret"


def stripe_header(secret=STRIPE_SECRET, timestamp=None, body=BODY):
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp or int(time.time())
    )


def stripe_accepts(header, secret=STRIPE_SECRET, body=BODY):
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=300)
    except stripe.SignatureVerificationError:
        return False
    return True


def test_stripe_accepts_what_stripe_accepts():
    header = stripe_header()
    assert stripe_accepts(header)

    verify("stripe", headers={"Stripe-Signature": header}, secrets=[STRIPE_SECRET])


def test_stripe_rejects_a_flipped_byte():
    header = stripe_header()
    assert not stripe_accepts(header, body=FLIPPED)

    error = assert_rejected(
        "stripe", headers={"Stripe-Signature": header}, body=FLIPPED, secrets=[STRIPE_SECRET]
    )
    assert error.code == "invalid_signature"


def test_stripe_rejects_a_missing_header():
    error = assert_rejected("stripe", headers={}, secrets=[STRIPE_SECRET])
    assert error.code == "missing_signature"


def test_stripe_rejects_a_stale_timestamp():
    header = stripe_header(timestamp=int(time.time()) - STALE)
    assert not stripe_accepts(header)

    error = assert_rejected("stripe", headers={"Stripe-Signature": header}, secrets=[STRIPE_SECRET])
    assert error.code == "stale_timestamp"
    assert "tolerance window" in error.detail


def test_stripe_rejects_the_wrong_secret():
    header = stripe_header(secret="whsec_other")
    assert not stripe_accepts(header)

    assert_rejected("stripe", headers={"Stripe-Signature": header}, secrets=[STRIPE_SECRET])


def test_stripe_rejects_a_tampered_timestamp():
    # The timestamp is signed: moving it forward to dodge the window breaks the signature.
    now = int(time.time())
    header = stripe_header(timestamp=now - STALE).replace(f"t={now - STALE}", f"t={now}")

    error = assert_rejected("stripe", headers={"Stripe-Signature": header}, secrets=[STRIPE_SECRET])
    assert error.code == "invalid_signature"


def test_stripe_accepts_a_header_with_two_v1_signatures_when_one_matches():
    now = int(time.time())
    old = stripe_header(secret="whsec_old", timestamp=now)
    new = stripe_header(secret=STRIPE_SECRET, timestamp=now)
    both = old + "," + new.split(",", 1)[1]  # t=..,v1=<old>,v1=<new>
    assert both.count("v1=") == 2
    assert stripe_accepts(both, secret=STRIPE_SECRET)

    verify("stripe", headers={"Stripe-Signature": both}, secrets=[STRIPE_SECRET])
    assert_rejected("stripe", headers={"Stripe-Signature": both}, secrets=["whsec_unrelated"])


def test_stripe_accepts_either_of_two_secrets():
    header = stripe_header(secret="whsec_new")

    verify("stripe", headers={"Stripe-Signature": header}, secrets=[STRIPE_SECRET, "whsec_new"])


def test_stripe_ignores_signatures_of_other_schemes():
    header = stripe_header().replace("v1=", "v0=")
    assert not stripe_accepts(header)

    assert_rejected("stripe", headers={"Stripe-Signature": header}, secrets=[STRIPE_SECRET])


# --- Slack -------------------------------------------------------------------------------


SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class FixedClock(Clock):
    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


def slack_headers(timestamp: int, secret=SLACK_SECRET, body=BODY):
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


def slack_accepts(headers, now, body=BODY):
    return SignatureVerifier(SLACK_SECRET, clock=FixedClock(now)).is_valid_request(body, headers)


def test_slack_matches_the_documented_example():
    # The worked example from Slack's "Verifying requests from Slack" docs.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect"
        b"&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554"
        b"%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    assert slack_accepts(headers, now=1531420618, body=body)

    verify("slack", headers=headers, body=body, secrets=[SLACK_SECRET], now=1531420618)


def test_slack_accepts_what_slack_sdk_accepts():
    now = int(time.time())
    headers = slack_headers(now)
    assert slack_accepts(headers, now)

    verify("slack", headers=headers, secrets=[SLACK_SECRET], now=now)


def test_slack_rejects_a_flipped_byte():
    now = int(time.time())
    headers = slack_headers(now)
    assert not slack_accepts(headers, now, body=FLIPPED)

    assert_rejected("slack", headers=headers, body=FLIPPED, secrets=[SLACK_SECRET], now=now)


@pytest.mark.parametrize("missing", ["X-Slack-Signature", "X-Slack-Request-Timestamp"])
def test_slack_rejects_a_missing_header(missing):
    now = int(time.time())
    headers = slack_headers(now)
    del headers[missing]
    assert not slack_accepts(headers, now)

    assert_rejected("slack", headers=headers, secrets=[SLACK_SECRET], now=now)


def test_slack_rejects_a_stale_timestamp():
    now = int(time.time())
    headers = slack_headers(now - STALE)
    assert not slack_accepts(headers, now)

    error = assert_rejected("slack", headers=headers, secrets=[SLACK_SECRET], now=now)
    assert error.code == "stale_timestamp"


def test_slack_rejects_the_wrong_secret():
    now = int(time.time())
    headers = slack_headers(now, secret="another-signing-secret")
    assert not slack_accepts(headers, now)

    assert_rejected("slack", headers=headers, secrets=[SLACK_SECRET], now=now)


def test_slack_accepts_either_of_two_secrets():
    now = int(time.time())

    verify("slack", headers=slack_headers(now), secrets=["old-secret", SLACK_SECRET], now=now)


# --- Standard Webhooks -------------------------------------------------------------------


SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-key-32-bytes!!").decode()
SW_OTHER = "whsec_" + base64.b64encode(b"some-other-key").decode()


def sw_headers(timestamp: int, secret=SW_SECRET, msg_id="msg_2Lh9KRb0pzN4LePd3XiA4dH", body=BODY):
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    signature = Webhook(secret).sign(msg_id, moment, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def sw_accepts(headers, secret=SW_SECRET, body=BODY):
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_standard_webhooks_accepts_what_the_library_accepts():
    headers = sw_headers(int(time.time()))
    assert sw_accepts(headers)

    verify("standard_webhooks", headers=headers, secrets=[SW_SECRET])


def test_standard_webhooks_rejects_a_flipped_byte():
    headers = sw_headers(int(time.time()))
    assert not sw_accepts(headers, body=FLIPPED)

    assert_rejected("standard_webhooks", headers=headers, body=FLIPPED, secrets=[SW_SECRET])


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_rejects_a_missing_header(missing):
    headers = sw_headers(int(time.time()))
    del headers[missing]
    assert not sw_accepts(headers)

    assert_rejected("standard_webhooks", headers=headers, secrets=[SW_SECRET])


@pytest.mark.parametrize("offset", [-STALE, STALE])
def test_standard_webhooks_rejects_a_timestamp_outside_five_minutes(offset):
    headers = sw_headers(int(time.time()) + offset)
    assert not sw_accepts(headers)

    error = assert_rejected("standard_webhooks", headers=headers, secrets=[SW_SECRET])
    assert error.code == "stale_timestamp"


def test_standard_webhooks_rejects_the_wrong_secret():
    headers = sw_headers(int(time.time()), secret=SW_OTHER)
    assert not sw_accepts(headers)

    assert_rejected("standard_webhooks", headers=headers, secrets=[SW_SECRET])


def test_standard_webhooks_rejects_a_changed_message_id():
    headers = sw_headers(int(time.time()))
    headers["webhook-id"] = "msg_other"
    assert not sw_accepts(headers)

    assert_rejected("standard_webhooks", headers=headers, secrets=[SW_SECRET])


def test_standard_webhooks_accepts_two_signatures_when_one_matches():
    now = int(time.time())
    headers = sw_headers(now)
    old = sw_headers(now, secret=SW_OTHER)["webhook-signature"]
    headers["webhook-signature"] = f"{old} {headers['webhook-signature']}"
    assert sw_accepts(headers)

    verify("standard_webhooks", headers=headers, secrets=[SW_SECRET])
    unrelated = "whsec_" + base64.b64encode(b"unrelated").decode()
    assert_rejected("standard_webhooks", headers=headers, secrets=[unrelated])


def test_standard_webhooks_accepts_either_of_two_secrets():
    headers = sw_headers(int(time.time()))

    verify("standard_webhooks", headers=headers, secrets=[SW_OTHER, SW_SECRET])


# --- presets and secrets -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_complete_valid_config(name):
    config = preset_config(name)

    assert validate_signature_config(config) == config


@pytest.mark.parametrize("name", ["stripe", "slack", "standard_webhooks"])
def test_presets_with_a_timestamp_declare_it(name):
    assert preset_config(name)["timestamp"]["format"] == "unix"


def test_preset_configs_are_fresh_copies():
    first = preset_config("github")
    first["signature"]["key"] = "X-Tampered"

    assert preset_config("github")["signature"]["key"] == "X-Hub-Signature-256"


def test_an_unknown_preset_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown signature preset 'gitlab'"):
        preset_config("gitlab")


def test_secret_bytes_decode_standard_webhooks_secrets():
    assert secret_bytes_for("standard_webhooks", SW_SECRET) == b"standard-webhooks-key-32-bytes!!"


def test_secret_bytes_accept_unpadded_base64():
    padded = base64.b64encode(b"ab").decode()  # "YWI="
    assert padded.endswith("=")

    assert secret_bytes_for("standard_webhooks", "whsec_" + padded.rstrip("=")) == b"ab"


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_"])
def test_secret_bytes_reject_bad_standard_webhooks_secrets(secret):
    with pytest.raises(ValueError):
        secret_bytes_for("standard_webhooks", secret)


@pytest.mark.parametrize("preset", ["github", "stripe", "slack", None])
def test_secret_bytes_use_utf8_otherwise(preset):
    # Stripe secrets look like Standard Webhooks ones but are used as the literal string.
    assert secret_bytes_for(preset, "whsec_abc€") == "whsec_abc€".encode()
