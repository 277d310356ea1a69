"""Webhook delivery, database side: one request in, one stored execution (or an error) out.

Both URL forms (``/hooks/<token>``, ``/hooks/p/<custom path>``) end here (webhooks/views.py);
docs/webhooks.md has the whole pipeline. This module does what needs the database, around
the pure steps of webhooks/pipeline.py:

1. the trigger: unknown → 404; another method than its endpoint's ``method`` → 405 with
   Allow; not active (inactive, failed, stale, completed) → 409;
2. (the view) Content-Length over WEBHOOK_MAX_BODY_BYTES → 413 before the body is read;
3. the pure steps, with the trigger's settings compiled once per content (see ``_pipeline``)
   and credentials read from the tenant's store: size, authentication, signature, parsing,
   Slack url_verification, the config's filters (a filtered delivery is answered 200,
   stores nothing and is counted on the trigger), inputSchema, idempotency key, template
   and transform;
4. the firing (executions.services.firing.execution_fire), decided by the firing rules
   (executions/policies.py): over a limit → 429 with Retry-After, any other refusal (a
   single-execution trigger that has fired) → 409; the row is committed before this module
   returns, so a 2xx always means "stored". A repeated idempotency key answers 200 with the
   first execution.

Every error is a WebhookRejected, or the firing's FiringRefused (api/errors.py
``refusal_error``), rendered as application/problem+json by the view.

``receive`` is the entry point. A trigger this process has served before is not looked up
again: its compiled pipeline runs at once, and the execution's INSERT checks in the same
statement that the trigger is still active, without rules that read its history
(``policies.history_free_sql``) and exactly as it was read —
URL, settings and signing secret, through ``WebhookEndpoint.delivery_version``, which PostgreSQL
changes whenever one of them does (``_unchanged_condition``).
That saves a query per delivery (a third of what the database does for one). Whatever
that path cannot settle — any rejection, a Slack challenge, a filtered delivery, another
method, a trigger that changed or that has limits — goes the full way above, so every
answer is decided on what is stored now.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import connection
from django.db.models import DEFERRED, Q

from accounts.encryption import decrypt_secret
from accounts.models import Credential
from executions import metrics, policies
from executions.choices import ExecutionStatus, ExecutionType
from executions.services import firing
from triggers import cost_control
from triggers import services as trigger_services
from triggers.choices import Delivery, TriggerOrigin
from triggers.models import Trigger
from webhooks import parsing
from webhooks.errors import (
    Conflict,
    LengthRequired,
    NotFound,
    TriggerMisconfigured,
    WebhookRejected,
)
from webhooks.models import WebhookEndpoint
from webhooks.pipeline import (
    Accepted,
    Challenge,
    Filtered,
    Pipeline,
    WebhookRequest,
    check_method,
    compile_pipeline,
)


@dataclass
class Ingested:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


# What the firing reads of a trigger; loaded into a deferred Trigger with ``from_db``.
_FIRING_FIELDS = (
    "id", "tenant_id", "provider_id", "provider_trigger_id", "max_retries",
    *policies.RULE_FIELDS,
)  # fmt: skip
# The webhook settings, read as stored (JSON text): with the signing secret's ciphertext they
# are the key of the compiled-pipeline cache, so nothing is parsed or compiled per request.
# (table alias, field) each: the endpoint's settings and its trigger's config.
_SETTINGS_COLUMNS = (
    ("e", "authentication"), ("e", "signature_verification"), ("e", "input_schema"),
    ("e", "message_template"), ("e", "output_transform"), ("t", "config"),
    ("e", "secret_digest"),
)  # fmt: skip


@lru_cache(maxsize=1)
def _lookup() -> tuple[list[int], dict[str, str]]:
    """(where each firing field sits in the model's concrete fields, the lookup query by
    token, by path and by uuid — the last for the provider API's project triggers only)."""
    concrete = Trigger._meta.concrete_fields
    positions = [i for i, f in enumerate(concrete) if f.attname in _FIRING_FIELDS]
    columns = [f"t.{concrete[i].column}" for i in positions]
    models = {"t": Trigger, "e": WebhookEndpoint}
    columns += [f"{alias}.{models[alias]._meta.get_field(name).column}"
                for alias, name in _SETTINGS_COLUMNS]  # fmt: skip
    endpoint = WebhookEndpoint._meta
    origin = Trigger._meta.get_field("origin").column
    select = (
        f"SELECT {', '.join(columns)}, c.encrypted_value, e.{endpoint.get_field('method').column}, "
        f"e.{endpoint.get_field('delivery_version').column} "
        f"FROM {endpoint.db_table} e "
        f"JOIN {Trigger._meta.db_table} t ON t.id = e.{endpoint.pk.column} "
        f"LEFT JOIN {Credential._meta.db_table} c ON c.id = e.signing_secret_id WHERE "
    )
    return positions, {
        "token": select + f"e.{endpoint.get_field('token').column} = %s",
        "path": select + f"e.{endpoint.get_field('path').column} = %s",
        # /v1/webhooks/<uuid> is the provider API's: a uuid is no secret (the APIs show it),
        # so every other trigger is reached only by its token or custom path.
        "uuid": select + f"t.uuid = %s AND t.{origin} = '{TriggerOrigin.PROVIDER.value}'",
    }


def receive(**delivery) -> Ingested | None:
    """``_receive``, counted by outcome in the metrics (executions/metrics.py)."""
    try:
        ingested = _receive(**delivery)
    except (WebhookRejected, firing.FiringRefused) as rejected:
        metrics.webhook_request(rejected.code)
        raise
    except Exception:
        metrics.webhook_request("error")
        raise
    if ingested is not None:
        metrics.webhook_request(outcome_of(ingested))
    return ingested


def _key(token: str | None, path: str | None, trigger_uuid) -> tuple[str, Any]:
    return ("token", token) if token else ("path", path) if path else ("uuid", trigger_uuid)


def outcome_of(ingested: Ingested) -> str:
    """stored, duplicate, debounced, filtered, ignored or challenge."""
    body = ingested.body
    if body.get("debounced"):
        return "debounced"
    if "execution_id" in body:
        return "duplicate" if body.get("duplicate") else "stored"
    if "challenge" in body:
        return "challenge"
    return str(body.get("status", "other"))


def _receive(
    *,
    token: str | None = None,
    path: str | None = None,
    trigger_uuid: uuid.UUID | None = None,
    content_length: str | None,
    transfer_encoding: str | None,
    read: Callable[[], WebhookRequest],
    method: str = "POST",
    remembered: str = "try",
) -> Ingested | None:
    """One delivery to the webhook URL ``token`` (or the custom ``path``, or the provider
    API's ``/v1/webhooks/<trigger uuid>``, which finds a provider API trigger only), start
    to end.

    ``read`` builds the request, reading its body; it is called only after the declared
    size passed. Raises WebhookRejected or FiringRefused (the view renders both as
    problem+json). ``remembered``: "try" the one statement of a remembered trigger first,
    "only" that (None where the full way would begin: nothing stored, nothing counted), or
    "skip" it (the caller tried it already).
    """
    key = _key(token, path, trigger_uuid)
    known = _remembered.get(key) if remembered != "skip" else None
    if known is not None and known.webhook_method == method:
        answer = _receive_remembered(known, content_length, transfer_encoding, read)
        if answer is not None:
            return answer
    if remembered == "only":
        return None
    try:
        trigger = find_trigger(token=token, path=path, trigger_uuid=trigger_uuid)
    except NotFound:
        _remembered.pop(key, None)
        raise
    _remember(key, trigger)
    check_method(trigger.webhook_method, method)
    check_accepting(trigger)
    check_declared_size(content_length, transfer_encoding)
    return ingest(trigger, read())


# Webhook triggers this process has served, by URL; the INSERT checks they are unchanged.
_remembered: dict[tuple[str, str | None], Trigger] = {}
_REMEMBERED_MAX = 4096


def _remember(key: tuple[str, str | None], trigger: Trigger) -> None:
    """Remember the trigger just read if its next delivery can take the one-statement way:
    active, without rules that read its history (those take the row lock) and without a
    debounce or throttle (those read the key's window or slots), with a
    ``delivery_version`` (kept by
    PostgreSQL; NULL on other databases, and without the database triggers of
    webhooks/migrations/0002 the INSERT would never match).
    Otherwise forget the URL, so a disabled trigger's deliveries are not tried twice."""
    if (
        trigger.status == policies.FIRING_STATUS
        and not policies.needs_history(trigger)
        and cost_control.cost_control(_stored_config(trigger.webhook_settings[6])) is None
        and trigger.delivery_version is not None
    ):
        if len(_remembered) >= _REMEMBERED_MAX:
            _remembered.clear()
        _remembered[key] = trigger
    else:
        _remembered.pop(key, None)


def _receive_remembered(trigger, content_length, transfer_encoding, read) -> Ingested | None:
    """The delivery on a remembered trigger, or None to go the full way."""
    try:
        check_declared_size(content_length, transfer_encoding)
        request = read()
        outcome = _run_pipeline(trigger, request)
    except WebhookRejected:
        return None  # decided again on the stored settings, which may have changed
    if not isinstance(outcome, Accepted):
        # A Slack challenge, a filtered delivery: answered (and counted) only for a trigger
        # that is active now.
        return None
    if not is_event_of(trigger, request, outcome):
        return None  # answered on the trigger as stored now
    execution_id = firing.execution_fire_if(
        trigger=trigger,
        condition=(_unchanged_condition(), _unchanged_params(trigger)),
        execution_type=_execution_type(trigger),
        input_data=outcome.input_data,
        request_payload=outcome.request_payload,
        idempotency_key=outcome.idempotency_key,
        config=_stored_config(trigger.webhook_settings[6]),
    )
    if execution_id is None:
        return None  # changed, or a repeated idempotency key: the full way answers
    return Ingested(
        202, {"execution_id": str(execution_id), "status": _PENDING, "duplicate": False}
    )


_PENDING = ExecutionStatus.PENDING.value


@lru_cache(maxsize=1)
def _unchanged_condition() -> str:
    """SQL: the trigger's row is still as ``find_trigger`` read it, active, and without rules
    that read its history (the firing rules' own condition, policies.history_free_sql).

    Its parameters come from ``_unchanged_params``, in the same order.
    """

    def column(name: str) -> str:
        return Trigger._meta.get_field(name).column

    endpoint = WebhookEndpoint._meta
    checks = [f"t.{column(name)} = %s" for name in ("id", "status")]
    checks.append(f"e.{endpoint.get_field('delivery_version').column} = %s")
    checks.append(policies.history_free_sql("t", column))
    return (
        f"EXISTS (SELECT 1 FROM {Trigger._meta.db_table} t JOIN {endpoint.db_table} e "
        f"ON e.{endpoint.pk.column} = t.id WHERE {' AND '.join(checks)})"
    )


# Everything else a remembered trigger's firing and pipeline use, which must be unchanged:
# PostgreSQL gives WebhookEndpoint.delivery_version a new value when any of them, the signing
# secret or its value changes (webhooks/migrations/0002, checked by tests/webhooks/
# test_delivery_version.py), so the INSERT compares that one column.
_VERSIONED_TRIGGER_FIELDS = (
    "tenant_id", "max_retries", "provider_id", "provider_trigger_id",
    *(name for alias, name in _SETTINGS_COLUMNS if alias == "t"),
)  # fmt: skip
_VERSIONED_ENDPOINT_FIELDS = (
    "token", "path", "method", "signing_secret_id",
    *(name for alias, name in _SETTINGS_COLUMNS if alias == "e"),
)  # fmt: skip


def _unchanged_params(trigger: Trigger) -> list:
    return [trigger.pk, policies.FIRING_STATUS.value, trigger.delivery_version]


def find_trigger(
    *, token: str | None = None, path: str | None = None, trigger_uuid: uuid.UUID | None = None
) -> Trigger:
    """The webhook (or Slack event) trigger at this URL, with one query; 404 otherwise.

    A deferred Trigger holding what the firing reads, plus its endpoint's ``webhook_method``,
    ``delivery_version`` and ``webhook_settings``: the stored webhook settings and
    signing-secret ciphertext, the key of the compiled pipeline.
    """
    positions, queries = _lookup()
    by, value = ("token", token) if token else ("path", path) if path else ("uuid", trigger_uuid)
    if by == "uuid":  # as the column stores it (SQLite: 32 hex digits)
        value = Trigger._meta.get_field("uuid").get_db_prep_value(value, connection)
    with connection.cursor() as cursor:
        cursor.execute(queries[by], [value])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No webhook trigger at this URL.")
    values = [DEFERRED] * len(Trigger._meta.concrete_fields)
    for value, position in zip(row, positions, strict=False):
        values[position] = value
    trigger = Trigger.from_db(connection.alias, None, values)
    if trigger.delivery not in (Delivery.WEBHOOK, Delivery.EVENT):
        raise NotFound("No webhook trigger at this URL.")
    # Hashable as read: JSON columns come back as text (Django registers jsonb as text).
    stored = (
        value if value is None or isinstance(value, str) else json.dumps(value, sort_keys=True)
        for value in row[len(positions) : -2]
    )
    trigger.webhook_settings = (trigger.provider_id, *stored)
    trigger.webhook_method, trigger.delivery_version = row[-2:]
    return trigger


def check_accepting(trigger: Trigger) -> None:
    """409 before the body is read when the trigger does not fire at all (the status rule);
    the other rules are asked when it fires."""
    refusal = policies.status_refusal(trigger.status)
    if refusal is not None:
        raise Conflict(refusal.reason)


def check_declared_size(content_length: str | None, transfer_encoding: str | None = None) -> None:
    """413 before the body is read, when the sender declares a body over the limit.

    A chunked body has no declared length (and Django would read it as empty): 411.
    """
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        raise LengthRequired("Send the body with a Content-Length, not chunked.")
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    parsing.check_body_size(declared, settings.WEBHOOK_MAX_BODY_BYTES)


def ingest(trigger: Trigger, request: WebhookRequest) -> Ingested:
    """Run the pipeline for ``trigger`` (found and checked active by the caller) and fire it."""
    outcome = _run_pipeline(trigger, request)
    if isinstance(outcome, Challenge):
        return Ingested(200, {"challenge": outcome.challenge})
    if isinstance(outcome, Filtered):
        # Not an error: the sender did nothing wrong, this trigger does not want it.
        trigger_services.trigger_count_filtered(trigger_id=trigger.pk)
        return Ingested(200, {"status": "filtered", "detail": outcome.reason})
    if not is_event_of(trigger, request, outcome):
        return Ingested(200, {"status": "ignored", "detail": NOT_AN_EVENT})
    fired = firing.execution_fire(
        trigger=trigger,
        execution_type=_execution_type(trigger),
        input_data=outcome.input_data,
        request_payload=outcome.request_payload,
        idempotency_key=outcome.idempotency_key,
        config=_stored_config(trigger.webhook_settings[6]),
    )
    return _answer(fired)


def _run_pipeline(trigger: Trigger, request: WebhookRequest):
    """The trigger's compiled pipeline on ``request``: Accepted, Challenge or Filtered, else
    raises."""
    return _pipeline(trigger.webhook_settings).run(
        request,
        credential_value=partial(_credential_value, trigger.tenant_id),
        max_body_bytes=settings.WEBHOOK_MAX_BODY_BYTES,
        tolerance_seconds=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
        secret_headers=_secret_headers(tuple(settings.WEBHOOK_SECRET_HEADERS)),
        max_message_bytes=settings.RENDERED_TEXT_MAX_BYTES,
    )


@lru_cache(maxsize=4)
def _secret_headers(names: tuple[str, ...]) -> frozenset[str]:
    """WEBHOOK_SECRET_HEADERS lower-cased, as the pipeline compares them."""
    return frozenset(name.lower() for name in names)


NOT_AN_EVENT = "Not one of this trigger's events (its provider's event type or config); not stored."


def is_event_of(trigger: Trigger, request: WebhookRequest, outcome: Accepted) -> bool:
    """Is this accepted delivery one of the trigger's events? A provider trigger (Stripe's
    customer.created, GitHub's issue opened …) takes only its own; other triggers take all.
    A delivery that is not is answered 200 and stores nothing (the sender did nothing wrong)."""
    entry = trigger.trigger_type
    if entry is None or not entry.event:
        return True
    body = outcome.request_payload.get("body")
    return entry.matches(_stored_config(trigger.webhook_settings[6]), request.headers, body)


@lru_cache(maxsize=1024)
def _stored_config(text: str | None) -> dict:
    value = _loads(text)
    return value if isinstance(value, dict) else {}


def _execution_type(trigger: Trigger) -> str:
    return ExecutionType.SLACK if trigger.delivery == Delivery.EVENT else ExecutionType.WEBHOOK


def _answer(fired: firing.Firing) -> Ingested:
    execution = fired.execution
    joined = fired.debounced
    if joined is not None:
        # Taken by a debounce window: 202 when the run that will carry this payload is still
        # to come (trailing), 200 when it ran already and this payload was dropped (leading);
        # either way counted on that run, whose id the sender gets.
        return Ingested(
            200 if joined.leading else 202,
            {
                "execution_id": str(joined.execution_id),
                "status": joined.status,
                "duplicate": False,
                "debounced": True,
                "delivery_count": joined.delivery_count,
            },
        )
    return Ingested(
        202 if fired.created else 200,
        {
            "execution_id": str(execution.execution_id),
            "status": execution.status,
            "duplicate": not fired.created,
        },
    )


@lru_cache(maxsize=1024)
def _pipeline(webhook_settings: tuple) -> Pipeline:
    """The compiled pipeline of these exact settings (the cache key is their stored text).

    A changed setting or a rotated secret is a new key, so an edited trigger never runs an old
    pipeline. The decrypted signing secret stays in this process's memory with its pipeline.
    """
    (provider_id, auth, signature, schema, template, transform, config, own_secret_digest,
     ciphertext) = webhook_settings  # fmt: skip
    try:
        secret = decrypt_secret(ciphertext) if ciphertext else None
    except InvalidToken:
        raise TriggerMisconfigured(
            "The trigger's signing secret cannot be decrypted; its owner must set it again."
        ) from None
    config = _loads(config) or {}
    return compile_pipeline(
        authentication_config=_loads(auth),
        signature_verification=_loads(signature),
        signing_secret=secret,
        input_schema=_loads(schema),
        message_template=template,
        output_transform=_loads(transform),
        idempotency_key=config.get("idempotencyKey") if isinstance(config, dict) else None,
        default_preset="slack" if provider_id == "slack" else None,
        own_secret_digest=own_secret_digest or "",
        config=config,
    )


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _credential_value(tenant_id: str, reference: str) -> str | None:
    """The secret of the tenant's credential ``reference`` (its id or its name), or None."""
    try:
        match = Q(pk=uuid.UUID(str(reference)))
    except ValueError:
        match = Q(name=reference)
    credential = Credential.objects.filter(match, tenant_id=tenant_id).first()
    if credential is None:
        return None
    try:
        return decrypt_secret(credential.encrypted_value)
    except InvalidToken:
        return None
