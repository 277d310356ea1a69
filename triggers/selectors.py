from django.db.models import Q, QuerySet

from accounts.models import Tenant
from triggers.api.frontend_enums import TYPE_TO_CATALOG
from triggers.models import Trigger


def trigger_list(*, tenant: Tenant) -> QuerySet[Trigger]:
    return Trigger.objects.filter(tenant=tenant)


def trigger_get(*, tenant: Tenant, pk: int) -> Trigger | None:
    return trigger_list(tenant=tenant).filter(pk=pk).first()


def frontend_types_q() -> Q:
    """Triggers seed 000 can show: types outside its enum (e.g. file_system) are left out."""
    q = Q(pk__in=[])
    for entry in TYPE_TO_CATALOG.values():
        q |= Q(provider_id=entry.provider_id, provider_trigger_id=entry.trigger_id)
    return q
