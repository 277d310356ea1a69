"""Every write of a webhook endpoint (the webhook side of a trigger, webhooks.models), and the
management API's webhook triggers: what a client sends, checked against its tenant
(credentials, members) and turned into stored settings, then the trigger services.

Settings are checked when saved (Trigger.clean() compiles the pipeline through
webhooks/receivers.py), so a bad ``signatureVerification``, ``inputSchema`` or
``outputTransform`` is a ValidationError naming it, never a failure at the first delivery.
"""

import re
import secrets
import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.encryption import decrypt_secret
from accounts.models import Agent, Credential, Tenant
from accounts.selectors import tenant_member_named
from triggers import config_keys
from triggers import services as trigger_services
from triggers.choices import Delivery, TriggerOrigin, TriggerStatus, WebhookMethod
from triggers.models import Trigger
from webhooks import authentication
from webhooks.errors import TriggerMisconfigured
from webhooks.models import WebhookEndpoint
from webhooks.pipeline import compile_pipeline

WEBHOOK_DELIVERIES = (Delivery.WEBHOOK, Delivery.EVENT)
# The settings a surface gives the trigger services (by the names the APIs' errors use, once
# Trigger's columns) and the endpoint fields that keep them.
ENDPOINT_FIELDS = {
    "webhook_path": "path",
    "webhook_method": "method",
    "authentication": "authentication",
    "signature_verification": "signature_verification",
    "signing_secret": "signing_secret",
    "input_schema": "input_schema",
    "message_template": "message_template",
    "output_transform": "output_transform",
}
SETTING_OF_FIELD = {field: name for name, field in ENDPOINT_FIELDS.items()} | {
    "token": "webhook_token"
}
# The pipeline's setting names and the settings that hold them.
PIPELINE_SETTINGS = {
    "authentication": "authentication",
    "signatureVerification": "signature_verification",
    "signingSecret": "signing_secret",
    "inputSchema": "input_schema",
    "messageTemplate": "message_template",
    "outputTransform": "output_transform",
    "config.idempotencyKey": "config",
}
# What a duplicate copies: not the URL (token, path) nor the trigger's own secret.
_COPIED_FIELDS = tuple(field for field in ENDPOINT_FIELDS.values() if field != "path")
# The agent API's custom webhook paths, served under /hooks/p/ (docs/webhooks.md).
_WEBHOOK_PATH = re.compile(r"/[A-Za-z0-9._~\-][A-Za-z0-9._~\-/]*")


def webhook_endpoint_of(trigger: Trigger) -> WebhookEndpoint | None:
    """The trigger's stored endpoint, or None (a new trigger, another delivery kind)."""
    if trigger.pk is None:
        return None
    return WebhookEndpoint.objects.filter(trigger_id=trigger.pk).first()


def webhook_settings_errors(*, trigger: Trigger, settings: dict) -> dict[str, str]:
    """What is wrong with the webhook settings a surface gives (``settings``, by setting name;
    a path is normalised in place) on ``trigger``, by setting name: the path, the method, the
    signing secret's tenant, and whether the pipeline compiles with them."""
    errors = {}
    method = settings.get("webhook_method", WebhookMethod.POST)
    if method != WebhookMethod.POST and trigger.delivery != Delivery.WEBHOOK:
        errors["webhook_method"] = "Only webhook triggers take a method other than POST."
    path = settings.get("webhook_path")
    if path is not None:
        if not path.strip():
            settings["webhook_path"] = None
        elif not _WEBHOOK_PATH.fullmatch(path) or "//" in path:
            errors["webhook_path"] = (
                f"'{path}' is not a webhook path: start with '/' and use "
                "letters, digits and . _ ~ - / (for example '/webhook/news')."
            )
        elif {".", ".."} & set(path.split("/")):
            # Clients and proxies resolve dot segments before sending: such a path is
            # unreachable as written, or reaches another one.
            errors["webhook_path"] = (
                f"'{path}' has a '.' or '..' segment; write the path without it."
            )
        elif len(path) > 1:
            settings["webhook_path"] = path.rstrip("/")  # '/a/' and '/a' are one path
    secret = settings.get("signing_secret")
    if secret is not None and trigger.tenant_id and secret.tenant_id != trigger.tenant_id:
        errors["signing_secret"] = "Belongs to another tenant."
    if errors or trigger.delivery not in WEBHOOK_DELIVERIES:
        return errors
    # The settings as they will be: the stored endpoint's, with those given.
    stored = webhook_endpoint_of(trigger)
    current = {
        name: settings[name] if name in settings else getattr(stored, field, None)
        for name, field in ENDPOINT_FIELDS.items()
    }
    secret = current["signing_secret"]
    try:
        compile_pipeline(
            authentication_config=current["authentication"],
            signature_verification=current["signature_verification"],
            signing_secret=decrypt_secret(secret.encrypted_value) if secret else None,
            input_schema=current["input_schema"],
            message_template=current["message_template"] or "",
            output_transform=current["output_transform"],
            idempotency_key=(trigger.config or {}).get("idempotencyKey"),
        )
    except TriggerMisconfigured as misconfigured:
        return {PIPELINE_SETTINGS.get(misconfigured.setting, "config"): misconfigured.reason}
    return {}


def webhook_endpoint_save(
    *, trigger: Trigger, settings: dict, copied_from: Trigger | None = None
) -> WebhookEndpoint | None:
    """Keep the endpoint of ``trigger`` (just saved by triggers.services, in its transaction):
    made for a webhook or Slack trigger (with a new token; a duplicate's settings copied from
    ``copied_from``'s) or for any trigger given webhook ``settings``, which are then set; the
    trigger's own secret made or forgotten with ``config.authentication_required`` (a new one
    is left on ``trigger.new_webhook_secret``, shown once). Raises ValidationError by setting
    name (a path taken)."""
    endpoint = WebhookEndpoint.objects.filter(trigger_id=trigger.pk).first()
    webhook = trigger.delivery in WEBHOOK_DELIVERIES
    if endpoint is None:
        if not webhook and not settings:
            return None
        endpoint = WebhookEndpoint()
        source = webhook_endpoint_of(copied_from) if copied_from is not None else None
        for field in _COPIED_FIELDS if source is not None else ():
            setattr(endpoint, field, getattr(source, field))
        if webhook:
            endpoint.token = secrets.token_urlsafe(32)
    endpoint.trigger = trigger  # and trigger.webhook_endpoint: the caller's answer shows it
    for name, value in settings.items():
        setattr(endpoint, ENDPOINT_FIELDS[name], value)
    digest = endpoint.secret_digest
    wanted = webhook and config_keys.authentication_required(trigger.config)
    if wanted and not endpoint.secret_digest:
        trigger.new_webhook_secret, endpoint.secret_digest = config_keys.new_webhook_secret()
    elif not wanted:
        endpoint.secret_digest = ""
    if not endpoint._state.adding and not settings and endpoint.secret_digest == digest:
        return endpoint  # unchanged (an enable, a disable, a core setting): nothing to write
    try:
        endpoint.full_clean(exclude=["trigger"])
    except ValidationError as error:
        raise ValidationError(
            {SETTING_OF_FIELD.get(field, field): messages
             for field, messages in error.message_dict.items()}
        ) from None  # fmt: skip
    endpoint.save()
    return endpoint


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, settings: dict, user: AbstractBaseUser | None = None
) -> Trigger:
    """Change the endpoint's ``settings`` (by setting name) as a write of its trigger (the
    admin's endpoint page): checked and saved by the trigger services, which hand them back
    to webhook_endpoint_save."""
    return trigger_services.trigger_update(trigger=endpoint.trigger, updated_by=user, **settings)


# What a client may set, by model field (the API maps its names onto these).
SETTINGS = (
    "public_id", "name", "description", "input_schema", "output_transform",
    "message_template", "signature_verification",
)  # fmt: skip


@transaction.atomic
def manage_trigger_create(
    *, agent: Agent, values: dict[str, Any], user: AbstractBaseUser | None = None
) -> Trigger:
    """A webhook trigger of ``agent`` from the management API's ``values`` (model field
    names; ``enabled``, ``authentication``, ``signing_secret_reference``,
    ``run_as_user_ids`` and ``run_as_user_id`` as the client sent them; ``pause_note`` and
    ``paused_until`` with ``enabled`` false)."""
    public_id = values.get("public_id") or None
    if public_id and Trigger.objects.filter(tenant=agent.tenant, public_id=public_id).exists():
        raise ValidationError({"public_id": "A trigger with this id already exists."})
    fields = _settings(agent.tenant, values, stored_authentication=None)
    return trigger_services.trigger_create(
        **_pause(values),
        tenant=agent.tenant,
        project=agent.project,
        agent=agent,
        origin=TriggerOrigin.MANAGEMENT,
        provider_trigger_id="webhook",
        created_by=user,
        status=TriggerStatus.ACTIVE if values.get("enabled", True) else TriggerStatus.INACTIVE,
        **fields,
    )


@transaction.atomic
def manage_trigger_update(
    *, trigger: Trigger, values: dict[str, Any], user: AbstractBaseUser | None = None
) -> Trigger:
    """Change what ``values`` names (a partial update), as manage_trigger_create takes them."""
    stored = webhook_endpoint_of(trigger)
    fields = _settings(
        trigger.tenant, values, stored_authentication=stored.authentication if stored else None
    )
    fields.pop("public_id", None)  # the API checked it equals the trigger's
    status = None
    if "enabled" in values:
        status = TriggerStatus.ACTIVE if values["enabled"] else TriggerStatus.INACTIVE
    return trigger_services.trigger_update(
        trigger=trigger, updated_by=user, status=status, **_pause(values), **fields
    )


def _pause(values: dict[str, Any]) -> dict:
    """A pause's note and end, when the client named them (its rules: triggers.services)."""
    return {name: values[name] for name in ("pause_note", "paused_until") if name in values}


def _settings(tenant: Tenant, values: dict[str, Any], *, stored_authentication) -> dict:
    fields = {name: values[name] for name in SETTINGS if name in values}
    for name in ("description", "message_template"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    if "authentication" in values:
        fields["authentication"] = _authentication(
            tenant, values["authentication"], stored_authentication
        )
    if "signing_secret_reference" in values:
        fields["signing_secret"] = _credential(
            tenant, values["signing_secret_reference"], "signing_secret"
        )
    if "run_as_user_ids" in values:
        fields["run_as_user_ids"] = [
            str(user.pk)
            for user in _members(tenant, values["run_as_user_ids"] or [], "run_as_user_ids")
        ]
    if "run_as_user_id" in values:
        given = values["run_as_user_id"]
        fields["run_as_user"] = _members(tenant, [given], "run_as_user")[0] if given else None
    return fields


def _authentication(tenant: Tenant, given, stored):
    try:
        value = authentication.store_authentication(given, stored)
    except ValueError as error:
        raise ValidationError({"authentication": str(error)}) from None
    reference = (value or {}).get("credentialReferenceId")
    if reference is not None:
        _credential(tenant, reference, "authentication")
    return value


def _credential(tenant: Tenant, reference: str | None, field: str) -> Credential | None:
    """The tenant's credential named by its id or its name; another tenant's is not found."""
    if reference in (None, ""):
        return None
    try:
        match = {"pk": uuid.UUID(str(reference))}
    except ValueError:
        match = {"name": reference}
    credential = Credential.objects.filter(tenant=tenant, **match).first()
    if credential is None:
        raise ValidationError({field: f"No credential '{reference}' in this tenant."})
    return credential


def _members(tenant: Tenant, user_ids: list, field: str) -> list:
    """The users ``user_ids`` names (each by its public id, or its integer id as shown before
    users had one: accounts.selectors.tenant_member_named), each a member of ``tenant``, in
    order."""
    users = []
    for given in user_ids:
        member = tenant_member_named(tenant=tenant, reference=given)
        if member is None:
            raise ValidationError({field: f"User '{given}' is not a member of this tenant."})
        users.append(member.user)
    return users
