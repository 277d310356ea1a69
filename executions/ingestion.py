"""The webhook ingestion pipeline: one request in, one stored execution (or a clear error) out.

Both URL forms (``/hooks/<token>``, ``/hooks/p/<custom path>``) end here. The steps run in
this order, each a small module of this package tested without the database:

1. the trigger: unknown → 404; not active (inactive, failed, stale, completed) → 409;
2. body size (WEBHOOK_MAX_BODY_BYTES) → 413, from Content-Length before reading, then the body;
3. ``authentication`` (none / API-key header / bearer / basic) → 401;
4. ``signatureVerification`` with the signing-secret credential → 401 (replays: stale timestamp);
5. body parsing (JSON, form) → 400 / 415;
6. Slack's ``url_verification`` → 200 with the challenge, nothing stored;
7. ``inputSchema`` (JSON Schema) → 422 listing each failing path;
8. the idempotency key (``config.idempotencyKey``, else Idempotency-Key / webhook-id /
   X-GitHub-Delivery) — a repeat returns the first execution, 200, nothing created;
9. ``messageTemplate`` and ``outputTransform`` (JMESPath) → the execution's input;
10. the firing (executions.services.execution_fire): limits → 429 with Retry-After; the row is
    committed before this function returns, so the 202 always means "stored".

Every error is a WebhookRejected, rendered as application/problem+json by the view.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from accounts.encryption import decrypt_secret
from accounts.models import Credential
from executions.choices import ExecutionType
from executions.services import FiringRefused, execution_fire
from triggers.choices import Delivery, TriggerStatus
from triggers.models import Trigger
from triggers.webhooks import authentication, payloads, presets, signatures, templating
from triggers.webhooks.errors import Unauthorized, WebhookRejected

# Request headers never copied into the stored request: they carry the sender's secrets.
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


class NotFound(WebhookRejected):
    status = 404
    code = "not_found"


class Conflict(WebhookRejected):
    status = 409
    code = "trigger_not_active"


class TooManyRequests(WebhookRejected):
    status = 429
    code = "rate_limited"


@dataclass(frozen=True)
class WebhookRequest:
    body: bytes
    headers: Mapping[str, str]
    query: dict[str, list[str]]
    content_type: str | None
    method: str = "POST"


@dataclass
class Ingested:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


# What the pipeline reads of a trigger. Fetched with one hand-written query (with the signing
# secret's ciphertext joined in) and turned into a deferred Trigger with ``from_db``: the
# webhook hot path pays neither ORM query compilation nor loading the other 40 columns.
_PIPELINE_FIELDS = (
    "id", "tenant_id", "status", "provider_id", "provider_trigger_id", "config",
    "authentication", "signature_verification", "input_schema", "message_template",
    "output_transform", "max_executions_per_hour", "max_executions_per_day",
    "is_single_execution", "max_retries",
)  # fmt: skip


def find_trigger(*, token: str | None = None, path: str | None = None) -> Trigger:
    column, value = ("webhook_token", token) if token else ("webhook_path", path)
    # In model order: Model.from_db maps a partial row by it.
    fields = [f for f in Trigger._meta.concrete_fields if f.attname in _PIPELINE_FIELDS]
    columns = ", ".join(f"t.{field.column}" for field in fields)
    sql = (
        f"SELECT {columns}, c.encrypted_value FROM {Trigger._meta.db_table} t "
        f"LEFT JOIN {Credential._meta.db_table} c ON c.id = t.signing_secret_id "
        f"WHERE t.{column} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No webhook trigger at this URL.")
    values = [
        field.from_db_value(raw, None, connection) if hasattr(field, "from_db_value") else raw
        for field, raw in zip(fields, row, strict=False)
    ]
    trigger = Trigger.from_db(connection.alias, [f.attname for f in fields], values)
    trigger.signing_secret_ciphertext = row[-1]
    if trigger.delivery not in (Delivery.WEBHOOK, Delivery.EVENT):
        raise NotFound("No webhook trigger at this URL.")
    return trigger


def check_accepting(trigger: Trigger) -> None:
    if trigger.status != TriggerStatus.ACTIVE:
        raise Conflict(
            f"This trigger is {trigger.get_status_display().lower()}; "
            "it accepts deliveries again once it is enabled.",
        )


def check_declared_size(content_length: str | None) -> None:
    """413 before the body is read, when the sender declares a body over the limit."""
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    payloads.check_body_size(declared, settings.WEBHOOK_MAX_BODY_BYTES)


def ingest(trigger: Trigger, request: WebhookRequest) -> Ingested:
    """Run steps 2-10 for ``trigger`` (found and checked active by the caller)."""
    payloads.check_body_size(len(request.body), settings.WEBHOOK_MAX_BODY_BYTES)
    _authenticate(trigger, request)
    _verify_signature(trigger, request)
    data = payloads.parse_body(request.body, request.content_type)
    challenge = payloads.slack_url_verification_challenge(data)
    if challenge is not None:
        return Ingested(200, {"challenge": challenge})
    payloads.validate_input(trigger.input_schema, data)
    idempotency_key = payloads.extract_idempotency_key(
        (trigger.config or {}).get("idempotencyKey"), request.headers, data
    )
    context = {"body": data, "headers": dict(request.headers), "query": _flat(request.query)}
    input_data = {
        "message": (
            templating.render_message_template(trigger.message_template, context)
            if trigger.message_template
            else None
        ),
        "payload": (
            payloads.apply_output_transform(trigger.output_transform, data)
            if trigger.output_transform
            else data
        ),
    }
    try:
        firing = execution_fire(
            trigger=trigger,
            execution_type=(
                ExecutionType.SLACK if trigger.delivery == Delivery.EVENT else ExecutionType.WEBHOOK
            ),
            input_data=input_data,
            request_payload=_stored_request(request, data),
            idempotency_key=idempotency_key,
        )
    except FiringRefused as refused:
        if refused.retry_after_seconds:
            raise TooManyRequests(
                refused.reason, headers={"Retry-After": str(refused.retry_after_seconds)}
            ) from None
        raise Conflict(refused.reason) from None
    execution = firing.execution
    return Ingested(
        202 if firing.created else 200,
        {
            "execution_id": str(execution.execution_id),
            "status": execution.status,
            "duplicate": not firing.created,
        },
    )


def _authenticate(trigger: Trigger, request: WebhookRequest) -> None:
    config = authentication.validate_authentication_config(trigger.authentication)
    if config is None or config["type"] == "none":
        return
    secret = _credential_value(trigger, config.get("credentialReferenceId"))
    authentication.check_authentication(config, secret=secret, headers=request.headers)


def _verify_signature(trigger: Trigger, request: WebhookRequest) -> None:
    if not trigger.signature_verification:
        return
    config = dict(trigger.signature_verification)
    preset = config.pop("preset", None)
    if preset and "algorithm" not in config:
        config = presets.preset_config(preset)
    ciphertext = getattr(trigger, "signing_secret_ciphertext", None)
    if ciphertext is None:
        raise Unauthorized("The trigger has no signing secret.", code="credential_missing")
    # One secret per line: during a rotation the credential holds the new and the old one.
    lines = decrypt_secret(ciphertext).splitlines()
    secrets = [presets.secret_bytes_for(preset, line.strip()) for line in lines if line.strip()]
    signatures.verify_signature(
        config,
        secrets=secrets,
        headers=request.headers,
        query=request.query,
        body=request.body,
        tolerance_seconds=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
    )


def _credential_value(trigger: Trigger, reference: str | None) -> str:
    """The secret of the tenant's credential ``reference`` (its id or its name).

    A missing credential fails closed: 401, never an open door.
    """
    try:
        match = Q(pk=uuid.UUID(str(reference)))
    except ValueError:
        match = Q(name=reference)
    credential = Credential.objects.filter(match, tenant_id=trigger.tenant_id).first()
    if credential is None:
        raise Unauthorized("The trigger's credential is missing.", code="credential_missing")
    return decrypt_secret(credential.encrypted_value)


def _flat(query: dict[str, list[str]]) -> dict[str, str | list[str]]:
    return {key: values[0] if len(values) == 1 else values for key, values in query.items()}


def _stored_request(request: WebhookRequest, data: Any) -> dict[str, Any]:
    """The request as received (minus credentials), kept on the execution."""
    return {
        "method": request.method,
        "headers": {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in _SECRET_HEADERS
        },
        "query": _flat(request.query),
        "body": data,
        "raw_body": request.body.decode("utf-8", errors="replace"),
    }
