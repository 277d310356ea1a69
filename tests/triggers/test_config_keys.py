"""triggers/config_keys.py: the config keys with a meaning, checked and read without a database."""

from datetime import UTC, date, datetime

import pytest

from triggers import config_keys
from triggers.choices import Delivery


def errors(config, delivery=Delivery.SCHEDULE, cron="30 14 * * *"):
    return config_keys.config_errors(config, delivery, cron_expression=cron)


def test_keys_of_the_type_are_checked_others_kept_unchecked():
    assert errors({"date": "2026-12-24", "anything": {"x": 1}}) == {}
    assert errors({"date": "tomorrow"}, Delivery.WEBHOOK) == {}  # not a webhook key
    assert errors({"body_contains": 5}) == {}  # not a schedule key
    assert errors({"body_contains": 5}, Delivery.EVENT) == {
        "config.body_contains": "Must be a string of at most 4096 characters."
    }
    assert set(errors({"max_failure_count": 0}, Delivery.FILE_SYSTEM)) == {
        "config.max_failure_count"
    }
    assert errors([1, 2]) == {"config": "Must be an object."}


@pytest.mark.parametrize("value", [None, ""])
def test_a_null_or_empty_date_is_no_date(value):
    assert errors({"date": value, "expirationDate": value}) == {}
    assert config_keys.one_time_date({"date": value}) is None


def test_the_readers_are_lenient():
    assert config_keys.one_time_date({"date": "2026-12-24"}) == date(2026, 12, 24)
    assert config_keys.one_time_date({"date": "2026-13-01"}) is None
    assert config_keys.failure_threshold(None) is None
    assert config_keys.authentication_required({"authentication_required": "yes"}) is False


def test_webhook_options_are_strict_and_skip_empty_header_rows():
    options = config_keys.webhook_options(
        {"required_headers": [" X-Shop ", ""], "include_headers": True, "body_contains": "o"}
    )
    assert options == config_keys.WebhookOptions(
        body_contains="o", required_headers=("X-Shop",), include_headers=True
    )
    with pytest.raises(config_keys.ConfigError, match=r"config\.include_query_params"):
        config_keys.webhook_options({"include_query_params": "no"})


def test_a_date_that_is_over_is_named():
    now = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    passed = config_keys.date_passed(
        {"date": "2026-12-24", "expirationDate": "2026-12-23"}, "30 14 * * *", "UTC", now=now
    )
    assert set(passed) == {"config.date", "config.expirationDate"}
    assert (
        config_keys.date_passed(
            {"date": "2026-12-24", "expirationDate": "2026-12-24"}, "30 16 * * *", "UTC", now=now
        )
        == {}
    )


def test_the_webhook_secret_is_kept_as_a_digest():
    secret, digest = config_keys.new_webhook_secret()
    assert secret.startswith("whsk_") and secret not in digest
    assert config_keys.webhook_secret_digest(secret) == digest
    assert config_keys.new_webhook_secret()[0] != secret
