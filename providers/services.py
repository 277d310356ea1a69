"""Project triggers: a catalog entry made a trigger of a project."""

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import services as account_services
from accounts.models import Credential, Project, Tenant
from executions.models import Execution
from polling.services import trigger_samples
from triggers import catalog
from triggers import services as trigger_services
from triggers.choices import Delivery, TriggerOrigin, TriggerStatus
from triggers.models import Trigger

TEST_SAMPLES = 5


def trigger_test_samples(*, trigger: Trigger) -> tuple[list, str]:
    """(samples, where they come from): a polling trigger's are up to five of its source's
    current items, fetched now (``fetched``; PollFailed when the source fails; its cursor does
    not move); another's, the bodies of its last five deliveries, newest first (``received``),
    or its catalog entry's sample while it has received none (``catalog``)."""
    if trigger.delivery == Delivery.POLLING:
        return trigger_samples(trigger=trigger), "fetched"
    received = (
        Execution.objects.filter(trigger=trigger, request_payload__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("request_payload", flat=True)[:TEST_SAMPLES]
    )
    samples = [payload.get("body") for payload in received if isinstance(payload, dict)]
    if samples:
        return samples, "received"
    entry = trigger.trigger_type
    sample = entry.sample_payload if entry is not None else None
    return ([sample] if sample is not None else []), "catalog"


@transaction.atomic
def project_trigger_create_named(
    *, tenant: Tenant, project_id: str, user: AbstractBaseUser | None = None, **fields: Any
) -> tuple[Trigger, str]:
    """``project_trigger_create`` in the tenant's project ``project_id``, which is made with
    the trigger when the tenant has none (the provider API names projects in its paths and
    has no call that makes one), in the same transaction: a refused trigger leaves no
    project behind."""
    project = account_services.project_ensure(tenant=tenant, public_id=project_id)
    return project_trigger_create(project=project, user=user, **fields)


@transaction.atomic
def project_trigger_create(
    *,
    project: Project,
    provider_id: str,
    trigger_id: str,
    trigger_config: dict[str, Any] | None = None,
    connection_id: str | None = None,
    user: AbstractBaseUser | None = None,
) -> tuple[Trigger, str]:
    """A trigger of ``project`` from the catalog entry ``provider_id``/``trigger_id``: DISABLED
    until enabled, as the contract says. Returns it and its key, which is not stored (the
    deprecated key endpoints take it; it is shown once).

    Raises ValidationError naming ``trigger_id``, ``trigger_config.<path>`` or
    ``connection_id``.
    """
    entry = catalog.trigger_type_get(provider_id, trigger_id)
    if entry is None or not entry.listed:
        known = ", ".join(e.trigger_id for e in catalog.provider_entries(provider_id))
        raise ValidationError(
            {"trigger_id": f"Provider '{provider_id}' has no trigger '{trigger_id}'"
             + (f"; it has: {known}." if known else "; no such provider.")}
        )  # fmt: skip
    config = trigger_config if trigger_config is not None else {}
    errors = entry.config_errors(config, catalog.PROVIDER_CONFIG)
    if errors:
        raise ValidationError(errors)
    connection = connection_get(project.tenant_id, connection_id)
    fields: dict[str, Any] = {}
    if entry.signature_preset:
        # The connection's signing secret verifies the provider's deliveries.
        fields.update(
            signature_verification={"preset": entry.signature_preset}, signing_secret=connection
        )
    trigger = trigger_services.trigger_create(
        tenant=project.tenant,
        project=project,
        origin=TriggerOrigin.PROVIDER,
        provider_id=provider_id,
        provider_trigger_id=trigger_id,
        name=f"{entry.name} ({provider_id})",
        config=config,
        config_is_whole=True,
        connection=connection,
        status=TriggerStatus.INACTIVE,
        created_by=user,
        **fields,
    )
    return trigger, trigger_services.trigger_key_set(trigger=trigger)


def connection_get(tenant_id: str, connection_id: str | None) -> Credential | None:
    """The tenant's connection ``connection_id`` (a credential's id); another tenant's, or a
    malformed id, is not found (a ValidationError naming ``connection_id``)."""
    if connection_id in (None, ""):
        return None
    try:
        pk = uuid.UUID(str(connection_id))
    except ValueError:
        pk = None
    connection = Credential.objects.filter(tenant_id=tenant_id, pk=pk).first() if pk else None
    if connection is None:
        raise ValidationError({"connection_id": f"No connection '{connection_id}' here."})
    return connection
