"""The keys of a trigger's ``config`` that mean something to the service (docs/api.md).

The frontend API's client keeps a trigger's options in ``config``; these keys change what
the engine does, every other key is kept as it is:

- ``max_failure_count`` (every type): the consecutive failed executions that freeze this
  trigger, instead of ``TRIGGER_FAILURE_THRESHOLD``;
- ``date`` (schedule, ``YYYY-MM-DD``): one run, at the cron's first slot that day; then the
  trigger is Completed;
- ``expirationDate`` (schedule, ``YYYY-MM-DD``): no slot after that day; then it is Stale
  (both dates from EARLIEST_DATE to LATEST_DATE);
- ``jitter_seconds`` (schedule, 0 to MAX_JITTER_SECONDS): every slot of the trigger runs a
  fixed offset later, between 0 and that many seconds, derived from the trigger's uuid
  (``jitter_offset``), so that many triggers of one slot (09:00) spread over the window;
- ``authentication_required`` (webhook, Slack): the sender presents the trigger's own secret;
- ``body_contains``, ``required_headers`` (webhook, Slack): a delivery whose raw body lacks
  the text, or that lacks one of the headers, is filtered (answered 2xx, not stored, counted);
- ``include_headers``, ``include_query_params``, ``include_request_metadata`` (webhook,
  Slack): what the execution's input carries besides the payload.

Dates are read in the trigger's time zone. Pure, no database: ``config_errors`` checks the
values (``Trigger.clean``, so every writer), the readers give each key's meaning. A key of
another type (``date`` on a webhook trigger) is one the type does not use: kept, unchecked.

These are the client's own keys, beside the type's one definition in the catalog (its JSON
Schema: ``schedule``, ``path``, …); the surfaces that refuse keys a type does not define (the
agent and provider APIs, ``catalog.AGENT_CONFIG``/``PROVIDER_CONFIG``) take only those a
type's schema lists (``MAX_FAILURE_COUNT_SCHEMA``, in the polled types').
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from triggers import schedule
from triggers.choices import Delivery

SCHEDULE_KEYS = ("date", "expirationDate")
WEBHOOK_KEYS = (
    "authentication_required",
    "body_contains",
    "required_headers",
    "include_headers",
    "include_query_params",
    "include_request_metadata",
)
_WEBHOOK_DELIVERIES = (Delivery.WEBHOOK, Delivery.EVENT)
_WEBHOOK_FLAGS = ("authentication_required", *WEBHOOK_KEYS[3:])

MAX_JITTER_SECONDS = 3600
MAX_BODY_CONTAINS_LENGTH = 4096
MAX_REQUIRED_HEADERS = 20
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Schedule dates a schedule can be computed for: the day's start in any zone, the day after
# and a cron's next slots must exist (year 1 or 9999 overflows Python's dates), and nothing
# before the epoch is a date a schedule means.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(9000, 12, 31)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
# max_failure_count as a JSON Schema, for the catalog entries that list it (the polled types).
MAX_FAILURE_COUNT_SCHEMA = {
    "type": ["integer", "null"],
    "title": "Failures before freezing",
    "description": "Consecutive failed executions that freeze the trigger; the default if null.",
    "minimum": 1,
}

# The header a sender presents a trigger's own secret in (authentication_required).
WEBHOOK_SECRET_HEADER = "X-Webhook-Secret"
_WEBHOOK_SECRET_PREFIX = "whsk_"


class ConfigError(ValueError):
    """A key's value is not one it takes; ``key`` names it, the message says why."""

    def __init__(self, key: str, message: str):
        super().__init__(f"config.{key}: {message}")
        self.key = key
        self.reason = message


# -- checking -----------------------------------------------------------------------------------


def config_errors(
    config: Any, delivery: str | None, *, cron_expression: str = "", timezone_name: str = "UTC"
) -> dict[str, str]:
    """``{"config.<key>": message}`` for each key of ``delivery``'s that has a bad value.

    A schedule's ``date`` must be on or before its ``expirationDate`` and a day on which
    the cron has a slot (given a valid ``cron_expression``). Whether a date has passed
    depends on the moment, so the services check it when a date is set (``date_passed``).
    """
    if not isinstance(config, dict):
        return {"config": "Must be an object."}
    errors: dict[str, str] = {}
    readers = [("max_failure_count", _failure_count)]
    if delivery == Delivery.SCHEDULE:
        readers += [(key, _date) for key in SCHEDULE_KEYS]
        readers += [("jitter_seconds", _jitter)]
    if delivery in _WEBHOOK_DELIVERIES:
        readers += [(key, _flag) for key in _WEBHOOK_FLAGS]
        readers += [("body_contains", _body_contains), ("required_headers", _required_headers)]
    for key, read in readers:
        try:
            read(config, key)
        except ConfigError as error:
            errors[f"config.{error.key}"] = error.reason
    if delivery == Delivery.SCHEDULE and not errors and cron_expression:
        on, until = one_time_date(config), expiration_date(config)
        if on and until and on > until:
            errors["config.date"] = f"{on} is after config.expirationDate {until}."
        elif on and _slot_on(on, cron_expression, timezone_name) is None:
            errors["config.date"] = (
                f"The cron expression '{cron_expression}' has no slot on {on} ({timezone_name})."
            )
    return errors


def date_passed(config: dict, cron_expression: str, timezone_name: str, *, now) -> dict[str, str]:
    """``{"config.<key>": message}`` for a schedule date that is over at ``now``: a ``date``
    whose slots that day are all past, an ``expirationDate`` before today (both read in the
    trigger's time zone)."""
    errors: dict[str, str] = {}
    until = expiration_date(config)
    if until and schedule.date_window(timezone_name, on=None, until=until).ends_at <= now:
        errors["config.expirationDate"] = f"{until} ({timezone_name}) has passed."
    on = one_time_date(config)
    if on:
        window = schedule.date_window(timezone_name, on=on, until=None)
        if schedule.first_slot_in(cron_expression, timezone_name, window, after=now) is None:
            errors["config.date"] = (
                f"The one-time run on {on} ({timezone_name}) at the cron's time is in the past."
            )
    return errors


def _slot_on(day: date, cron_expression: str, timezone_name: str):
    window = schedule.date_window(timezone_name, on=day, until=None)
    return schedule.first_slot_in(cron_expression, timezone_name, window)


# -- reading (strict: a bad value raises ConfigError) -------------------------------------------


def _failure_count(config: dict, key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, "Must be an integer of at least 1, or null for the default.")
    return value


def _date(config: dict, key: str) -> date | None:
    value = config.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if EARLIEST_DATE <= day <= LATEST_DATE:
                return day
            raise ConfigError(key, f"Must be a date from {EARLIEST_DATE} to {LATEST_DATE}.")
    raise ConfigError(key, "Must be a date as YYYY-MM-DD, or null.")


def _jitter(config: dict, key: str) -> int:
    value = config.get(key)
    if value is None:
        return 0
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_JITTER_SECONDS
    ):
        raise ConfigError(
            key, f"Must be a whole number of seconds from 0 to {MAX_JITTER_SECONDS}, or null."
        )
    return value


def _flag(config: dict, key: str) -> bool:
    value = config.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(key, "Must be true or false.")
    return value


def _body_contains(config: dict, key: str) -> str:
    value = config.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_BODY_CONTAINS_LENGTH:
        raise ConfigError(
            key, f"Must be a string of at most {MAX_BODY_CONTAINS_LENGTH} characters."
        )
    return value


def _required_headers(config: dict, key: str) -> tuple[str, ...]:
    value = config.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_REQUIRED_HEADERS:
        raise ConfigError(key, f"Must be a list of at most {MAX_REQUIRED_HEADERS} header names.")
    names = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"{key}[{index}]", "Must be a header name.")
        if not item.strip():
            continue  # an empty row of the client's form: no header
        if not _HEADER_NAME.fullmatch(item.strip()):
            raise ConfigError(
                f"{key}[{index}]",
                f"{item[:80]!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~).",
            )
        names.append(item.strip())
    return tuple(names)


# -- the meaning of each key (lenient: a value stored unchecked reads as "off") ------------------


def _lenient(read, config: Any, key: str, off):
    if not isinstance(config, dict):
        return off
    try:
        return read(config, key)
    except ConfigError:
        return off


def failure_threshold(config: Any) -> int | None:
    """``max_failure_count``: this trigger's own freezing threshold, or None (the default)."""
    return _lenient(_failure_count, config, "max_failure_count", None)


def one_time_date(config: Any) -> date | None:
    """A schedule's ``date``: it runs once, that day (read in its time zone)."""
    return _lenient(_date, config, "date", None)


def expiration_date(config: Any) -> date | None:
    """A schedule's ``expirationDate``: its last day (read in its time zone)."""
    return _lenient(_date, config, "expirationDate", None)


def schedule_window(config: Any, timezone_name: str) -> schedule.Window:
    """The window a schedule's slots fall in, from ``date`` and ``expirationDate``."""
    return schedule.date_window(
        timezone_name, on=one_time_date(config), until=expiration_date(config)
    )


@dataclass(frozen=True)
class ScheduleConfig:
    """A schedule's keys, read once (``schedule_config``) for all that one firing asks of them:
    its one-time ``date``, its ``expirationDate``, the window they make, its jitter offset."""

    one_time_date: date | None = None
    expiration_date: date | None = None
    window: schedule.Window = schedule.Window(None, None)  # noqa: RUF009 - an immutable tuple
    jitter: timedelta | None = None


def schedule_config(config: Any, timezone_name: str, trigger_uuid: uuid.UUID) -> ScheduleConfig:
    """``config``'s schedule keys read once, the dates in ``timezone_name``."""
    on, until = one_time_date(config), expiration_date(config)
    return ScheduleConfig(
        one_time_date=on,
        expiration_date=until,
        window=schedule.date_window(timezone_name, on=on, until=until),
        jitter=jitter_offset(config, trigger_uuid),
    )


def jitter_offset(config: Any, trigger_uuid: uuid.UUID) -> timedelta | None:
    """How much later than its slots a schedule runs: ``jitter_seconds`` spread by the trigger's
    uuid (as Jenkins' ``H`` spreads jobs by their name), the same offset for every slot.

    A fixed offset, not a new random one per slot, keeps a trigger's cadence (two runs are a
    period apart) and makes the offset a property of the trigger that its ``next_fire_at``
    can carry, so the scheduler claims it only when its jittered time has come: a 09:00 herd
    is spread for the database and the workers alike. The uuid's bits are uniform, so H
    triggers of one slot spread evenly, about H / (jitter_seconds + 1) a second. None
    without ``jitter_seconds``.
    """
    jitter = _lenient(_jitter, config, "jitter_seconds", 0)
    if not jitter:
        return None  # no jitter asked for (an offset of 0 is one the jitter drew)
    return timedelta(seconds=trigger_uuid.int % (jitter + 1))


def authentication_required(config: Any) -> bool:
    return _lenient(_flag, config, "authentication_required", False)


@dataclass(frozen=True)
class WebhookOptions:
    """A webhook trigger's filters and what its executions' input carries."""

    body_contains: str = ""
    required_headers: tuple[str, ...] = ()
    include_headers: bool = False
    include_query_params: bool = False
    include_request_metadata: bool = False


NO_WEBHOOK_OPTIONS = WebhookOptions()


def webhook_options(config: Any) -> WebhookOptions:
    """The webhook keys of ``config``; raises ConfigError for a value they do not take (the
    pipeline is compiled from them: a bad stored value is a misconfigured trigger)."""
    if not isinstance(config, dict):
        return NO_WEBHOOK_OPTIONS
    return WebhookOptions(
        body_contains=_body_contains(config, "body_contains"),
        required_headers=_required_headers(config, "required_headers"),
        include_headers=_flag(config, "include_headers"),
        include_query_params=_flag(config, "include_query_params"),
        include_request_metadata=_flag(config, "include_request_metadata"),
    )


# -- the trigger's own webhook secret (authentication_required) ---------------------------------


def new_webhook_secret() -> tuple[str, str]:
    """(a new secret, its digest): 256 random bits, shown once; only the digest is kept."""
    secret = _WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, webhook_secret_digest(secret)


def webhook_secret_digest(secret: str) -> str:
    """SHA-256 (hex) of a presented secret. A fast hash is enough: the secret carries 256
    random bits, so there is nothing to guess (as for API tokens)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
