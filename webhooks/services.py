"""Writes of the management API's webhook triggers: what a client sends, checked against its
tenant (credentials, members) and turned into stored settings, then the trigger services.

Settings are checked when saved (Trigger.clean() compiles the pipeline through
webhooks/receivers.py), so a bad ``signatureVerification``, ``inputSchema`` or
``outputTransform`` is a ValidationError naming it, never a failure at the first delivery.
"""

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Agent, Credential, Tenant
from accounts.selectors import tenant_member_named
from triggers import services as trigger_services
from triggers.choices import TriggerOrigin, TriggerStatus
from triggers.models import Trigger
from webhooks import authentication

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
    ``run_as_user_ids`` and ``run_as_user_id`` as the client sent them)."""
    public_id = values.get("public_id") or None
    if public_id and Trigger.objects.filter(tenant=agent.tenant, public_id=public_id).exists():
        raise ValidationError({"public_id": "A trigger with this id already exists."})
    fields = _settings(agent.tenant, values, stored_authentication=None)
    return trigger_services.trigger_create(
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
    fields = _settings(trigger.tenant, values, stored_authentication=trigger.authentication)
    fields.pop("public_id", None)  # the API checked it equals the trigger's
    status = None
    if "enabled" in values:
        status = TriggerStatus.ACTIVE if values["enabled"] else TriggerStatus.INACTIVE
    return trigger_services.trigger_update(
        trigger=trigger, updated_by=user, status=status, **fields
    )


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
