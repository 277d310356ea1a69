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


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_schedule_dates_are_bounded_so_that_every_zone_can_compute_them(zone):
    # Issue 25: 0001-01-01 and 9999-12-31 overflowed Python's dates (a 500 on save).
    for day in ("0001-01-01", "1969-12-31", "9001-01-01", "9999-12-31"):
        found = config_keys.config_errors(
            {"date": day, "expirationDate": day}, Delivery.SCHEDULE,
            cron_expression="30 14 * * *", timezone_name=zone,
        )  # fmt: skip
        message = "Must be a date from 1970-01-01 to 9000-12-31."
        assert found == {"config.date": message, "config.expirationDate": message}
        assert config_keys.one_time_date({"date": day}) is None  # the lenient reader
    for day in ("1970-01-01", "9000-12-31"):
        config = {"date": day, "expirationDate": day}
        assert (
            config_keys.config_errors(
                config, Delivery.SCHEDULE, cron_expression="30 14 * * *", timezone_name=zone
            )
            == {}
        )
        window = config_keys.schedule_window(config, zone)
        assert window.starts_at < window.ends_at
