"""The webhook pipeline between "the trigger is found and active" and "store this execution".

No database here: the caller (webhooks/delivery.py) finds the trigger, decrypts its signing
secret, looks credentials up and stores the execution. A trigger's webhook settings are
compiled once into a Pipeline (validated, a preset expanded, the JSON Schema, the template and
the JMESPath transform compiled); each request then runs these steps, in this order:

1. body size (the bytes read; the view checked Content-Length before reading) → 413;
2. ``authentication``: the headers shape (each listed header with its value: missing → 401,
   wrong → 403) or a credential (api_key / bearer / basic → 401); then the trigger's own
   secret in ``X-Webhook-Secret`` when its config requires one (missing → 401, wrong → 403);
3. ``signatureVerification`` → 401 (a timestamp outside the window is a replay), or 400 for an
   empty signed string the config forbids (``allowEmptyBody: false``);
4. body parsing (JSON, form-encoded) → 400 / 415;
5. Slack's ``url_verification`` → a Challenge to echo back, nothing to store; then the
   config's filters (``body_contains``, ``required_headers``, then ``filter``, a JMESPath
   over the payload and the headers kept: triggers/event_rules.py) → Filtered, nothing to
   store;
6. ``inputSchema`` → 422 listing each failing path (422 ``input_schema_too_costly`` when the
   check spends its budget, which grows with the body: input_schema.validate_input);
7. the idempotency key → 400 when over 255 characters;
8. ``messageTemplate`` and ``outputTransform`` → the execution's input (422 when the transform
   fails on this payload, or when the message or the transformed payload would be larger
   than the limits the caller passes: a template or a transform must not multiply a
   delivery, and a transform is stopped while it runs: triggers/jmespath_bounded.py); the
   config's ``include_…`` keys add the headers, the query and the request's metadata to it.

The tenant's checks of steps 5-8 (``filter``, the schema, the idempotency key's path, the
transform) spend one budget between them, ``budget_for`` the body's size
(triggers/budgets.py ``one_budget``): a trigger with every one of them costly costs a delivery
what one check may.

Whatever would be stored must be storable (api/storable.py): a body, query or header that
PostgreSQL cannot hold is a 400 ``unstorable_value`` naming the problem, and nothing is
stored. The request kept on the execution, and what a message template can read of it,
leave out what carries a secret: the headers of a fixed list (SECRET_HEADERS), of the
caller's configured list, of the trigger's own authentication, and its signature's header or
query parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from api.storable import storable_text
from triggers import budgets, config_keys, event_rules, jmespath_bounded, templating
from webhooks import authentication, filters, parsing, presets, signatures, transforms
from webhooks.errors import (
    MethodNotAllowed,
    TriggerMisconfigured,
    Unauthorized,
    UnprocessableEntity,
)
from webhooks.idempotency import extract_idempotency_key, validate_idempotency_spec
from webhooks.input_schema import compile_input_schema, validate_input

logger = logging.getLogger(__name__)

# Request headers never kept on the execution: they carry the sender's credentials. The
# headers a trigger's own `authentication` names are left out as well (Pipeline.secret_headers).
SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-api-key", filters.SECRET_HEADER.lower()}
)


@dataclass(frozen=True)
class WebhookRequest:
    body: bytes
    headers: Mapping[str, str]
    query: dict[str, list[str]]
    content_type: str | None
    method: str = "POST"


@dataclass(frozen=True)
class Challenge:
    """Slack's url_verification handshake: answer with ``challenge``, store nothing."""

    challenge: str


@dataclass(frozen=True)
class Filtered:
    """The trigger's filters (``config.body_contains``, ``required_headers``) turn this
    delivery away: answered 2xx, nothing stored, counted on the trigger."""

    reason: str


def check_method(allowed: str, method: str) -> None:
    """A webhook URL takes one method, the trigger's ``webhook_method`` (POST unless the
    frontend API chose another): any other is 405 with ``Allow``."""
    if method != allowed:
        raise MethodNotAllowed(
            f"This webhook is delivered with {allowed}.", headers={"Allow": allowed}
        )


@dataclass(frozen=True)
class Accepted:
    """What to store: the execution's input, the request as received, its idempotency key."""

    input_data: dict[str, Any]
    request_payload: dict[str, Any]
    idempotency_key: str | None


@dataclass(frozen=True)
class Pipeline:
    """A trigger's webhook settings, validated and compiled; ``run`` takes one request."""

    authentication: dict[str, Any]
    secret_headers: frozenset[str]  # lower-case
    secret_query: frozenset[str]
    signature: dict[str, Any] | None
    secrets: tuple[bytes, ...]
    input_validator: Any
    template: tuple | None
    transform: Any
    idempotency: dict[str, str] | None
    # The trigger's own secret (config.authentication_required): its digest, and whether
    # one is required (a trigger that requires one without a digest takes nothing).
    own_secret_digest: str = ""
    own_secret_required: bool = False
    options: config_keys.WebhookOptions = config_keys.NO_WEBHOOK_OPTIONS
    # config.filter (triggers/event_rules.py): a JMESPath that must be truthy.
    event_filter: jmespath_bounded.Expression | None = None

    def run(
        self,
        request: WebhookRequest,
        *,
        credential_value: Callable[[str], str | None],
        max_body_bytes: int,
        tolerance_seconds: float,
        secret_headers: frozenset[str] = frozenset(),
        max_message_bytes: int = templating.DEFAULT_MAX_RENDERED_BYTES,
    ) -> Accepted | Challenge | Filtered:
        """Steps 1-8 of the module docstring; raises WebhookRejected at the first failure.

        ``credential_value(reference)`` is the secret of the tenant's credential named by
        ``authentication.credentialReferenceId``, or None when there is no such credential
        (the headers shape needs none). ``secret_headers``: more header names (lower-case)
        never stored. The rendered message may be ``max_message_bytes`` at most, the
        transformed payload ``max_body_bytes`` (as JSON).
        """
        parsing.check_body_size(len(request.body), max_body_bytes)
        self._authenticate(request, credential_value)
        if self.own_secret_required:
            filters.check_own_secret(self.own_secret_digest, headers=request.headers)
        if self.signature is not None:
            if not self.secrets:  # fail closed: a signed trigger without a secret takes nothing
                raise Unauthorized("The trigger has no signing secret.", code="credential_missing")
            signatures.verify_signature(
                self.signature,
                secrets=self.secrets,
                headers=request.headers,
                query=request.query,
                body=request.body,
                tolerance_seconds=tolerance_seconds,
            )
        data = parsing.parse_body(request.body, request.content_type)
        challenge = parsing.slack_url_verification_challenge(data)
        if challenge is not None:
            return Challenge(challenge)
        reason = filters.filtered_reason(self.options, body=request.body, headers=request.headers)
        if reason is not None:
            return Filtered(reason)
        size = len(request.body)  # the budget of the schema and the expressions grows with it
        hidden = self.secret_headers | secret_headers
        kept = stored_request(request, data, secret_headers=hidden, secret_query=self.secret_query)
        # The filter, schema, idempotency key and transform share the delivery's one budget.
        with budgets.one_budget(size):
            return self._checked(
                request, data, kept, size,
                max_body_bytes=max_body_bytes, max_message_bytes=max_message_bytes,
            )  # fmt: skip

    def _checked(
        self,
        request: WebhookRequest,
        data: Any,
        kept: dict,
        size: int,
        *,
        max_body_bytes: int,
        max_message_bytes: int,
    ) -> Accepted | Filtered:
        """``config.filter`` and steps 6-8 on the parsed body (``data``) and the request as
        kept (``kept``), in the caller's one budget."""
        if self.event_filter is not None:  # config.filter, on what the execution would keep
            document = event_rules.request_document(data, kept["headers"], kept["query"])
            reason = event_rules.filtered_reason(self.event_filter, document, input_bytes=size)
            if reason is not None:
                return Filtered(reason)
        validate_input(self.input_validator, data, input_bytes=size)
        key = extract_idempotency_key(self.idempotency, request.headers, data, input_bytes=size)
        parsing.check_storable(kept["headers"], "A request header")
        parsing.check_storable(kept["query"], "The query string")
        payload = data
        if self.transform is not None:
            payload = transforms.apply_output_transform(
                self.transform, data, max_bytes=max_body_bytes, input_bytes=size
            )
        message = None
        if self.template is not None:
            context = templating.message_context(
                payload, body=data, headers=kept["headers"], query=kept["query"]
            )
            try:
                message = templating.render_message_template(
                    self.template, context, max_bytes=max_message_bytes
                )
            except templating.TemplateTooLarge as too_large:
                raise UnprocessableEntity(
                    f"The trigger's messageTemplate on this payload: {too_large}.",
                    code="message_too_large",
                ) from None
        included = filters.included_input(
            self.options,
            kept=kept,
            method=request.method,
            content_type=request.content_type,
            body_size=len(request.body),
        )
        return Accepted(
            input_data={"message": message, "payload": payload, **included},
            request_payload=kept,
            idempotency_key=key,
        )

    def _authenticate(self, request: WebhookRequest, credential_value: Callable) -> None:
        if "headers" in self.authentication:  # hashed values: no credential to read
            authentication.check_header_authentication(self.authentication, headers=request.headers)
            return
        if self.authentication["type"] == "none":
            return
        secret = credential_value(self.authentication["credentialReferenceId"])
        if not secret:  # fail closed: a missing credential never opens the door
            raise Unauthorized("The trigger's credential is missing.", code="credential_missing")
        authentication.check_authentication(
            self.authentication, secret=secret, headers=request.headers
        )


def compile_pipeline(
    *,
    authentication_config: Any = None,
    signature_verification: Any = None,
    signing_secret: str | None = None,
    input_schema: Any = None,
    message_template: str | None = None,
    output_transform: Any = None,
    idempotency_key: Any = None,
    default_preset: str | None = None,
    own_secret_digest: str = "",
    config: Any = None,
) -> Pipeline:
    """The Pipeline for these settings (the trigger's columns and ``config.idempotencyKey``).

    ``signing_secret`` is the decrypted credential value: one secret per line, so a rotation
    can hold the new and the old one. ``signatureVerification`` is the management API's object, or
    ``{"preset": "github" | "stripe" | "slack" | "standard_webhooks"}``; ``default_preset``
    applies when it is empty but a signing secret is set (a Slack event trigger). The
    idempotency spec defaults to the preset's (presets.preset_idempotency_spec), else to the
    Idempotency-Key / webhook-id / X-GitHub-Delivery headers. ``config`` is the trigger's
    config, whose webhook keys (triggers/config_keys.py) filter deliveries and say what the
    input carries; ``own_secret_digest`` is its own secret's digest (authentication_required).

    Raises TriggerMisconfigured (500) naming the setting that does not compile.
    """
    with _setting("authentication"):
        auth = authentication.validate_authentication_config(authentication_config)
    with _setting("signatureVerification"):
        if not signature_verification and signing_secret and default_preset:
            signature_verification = {"preset": default_preset}
        signature, preset = _signature_config(signature_verification)
    with _setting("signingSecret"):
        lines = (signing_secret or "").splitlines()
        secrets = tuple(
            key
            for line in lines
            if line.strip()
            for key in presets.secret_keys_for(preset, line.strip())
        )
    with _setting("inputSchema"):
        validator = None if input_schema is None else compile_input_schema(input_schema)
    with _setting("messageTemplate"):
        template = (
            templating.compile_message_template(message_template) if message_template else None
        )
    with _setting("outputTransform"):
        transform = (
            transforms.compile_output_transform(output_transform) if output_transform else None
        )
    with _setting("config.idempotencyKey"):
        idempotency = validate_idempotency_spec(idempotency_key)
    with _setting("config"):
        options = config_keys.webhook_options(config)
    with _setting("config.filter"):
        event_filter = None
        text = config.get("filter") if isinstance(config, dict) else None
        if text is not None and not (isinstance(text, str) and not text.strip()):
            event_filter = event_rules.compile_rule_expression(config["filter"])
    return Pipeline(
        authentication=auth,
        secret_headers=(
            SECRET_HEADERS
            | authentication.authentication_header_names(auth)
            | signatures.signature_header_names(signature)
        ),
        secret_query=signatures.signature_query_names(signature),
        signature=signature,
        secrets=secrets,
        input_validator=validator,
        template=template,
        transform=transform,
        idempotency=idempotency or presets.preset_idempotency_spec(preset),
        own_secret_digest=own_secret_digest or "",
        own_secret_required=bool(own_secret_digest) or config_keys.authentication_required(config),
        options=options,
        event_filter=event_filter,
    )


def _signature_config(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the normalised signatureVerification config or None, the preset's name or None)."""
    if not value:
        return None, None
    if not isinstance(value, dict):
        raise ValueError("signatureVerification: must be an object")
    config = dict(value)
    preset = config.pop("preset", None)
    if preset and "algorithm" not in config:
        config = presets.preset_config(preset)
    return signatures.validate_signature_config(config), preset


@contextmanager
def _setting(name: str) -> Iterator[None]:
    """Turn a ValueError while compiling setting ``name`` into TriggerMisconfigured.

    The sender is told which setting is broken, never its value; the log has the details.
    """
    try:
        yield
    except ValueError as error:
        logger.error("Webhook trigger setting %s does not compile: %s", name, error)
        rejected = TriggerMisconfigured(
            f"The trigger's {name} setting is invalid; its owner must correct it."
        )
        rejected.setting, rejected.reason = name, str(error)
        raise rejected from error


def flat_query(query: Mapping[str, Sequence[str]]) -> dict[str, str | list[str]]:
    """A query string's values, a repeated name as a list."""
    return {key: values[0] if len(values) == 1 else list(values) for key, values in query.items()}


def stored_request(
    request: WebhookRequest,
    data: Any,
    query: dict | None = None,
    secret_headers: frozenset[str] = SECRET_HEADERS,
    secret_query: frozenset[str] = frozenset(),
) -> dict:
    """The request as received, kept on the execution, without the headers named (lower-case)
    in ``secret_headers`` (SECRET_HEADERS, the configured list, the trigger's own
    authentication and signature headers) and the query parameters in ``secret_query``."""
    query = flat_query(request.query) if query is None else query
    return {
        "method": request.method,
        "headers": {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in secret_headers
        },
        "query": {key: value for key, value in query.items() if key not in secret_query},
        "body": data,
        # As text, kept for people: bytes that are not UTF-8, and NULs (which PostgreSQL
        # cannot store; a UTF-16 body is full of them), become U+FFFD.
        "raw_body": storable_text(request.body.decode("utf-8", errors="replace")),
    }
