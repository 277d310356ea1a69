"""App webhooks: one URL per provider app (``/v1/webhooks/slack``, ``…/github``,
``…/stripe``), each delivery routed to every trigger it is an event of.

A provider's app (the Slack app, a GitHub App, a Stripe account's endpoint) sends every event
to one URL. The delivery is verified with the app's signing secret (``SLACK_SIGNING_SECRET``,
``GITHUB_WEBHOOK_SECRET``, ``STRIPE_WEBHOOK_SECRET``) by the pipeline of that provider's
preset, Slack's ``url_verification`` is answered, and then every active provider trigger of
that provider whose catalog entry and ``trigger_config`` match the event (Slack: event type,
team, channel) *in the tenant the event's outside account belongs to* (a Slack workspace, a
GitHub account, a Stripe account: ``accounts.OutsideAccount``; an unbound account's events
reach no one) gets one execution — stored before the answer, idempotent per trigger on the
provider's event id, unless its ``trigger_config.filter`` turns the event away (counted on the
trigger, reported as ``filtered``; ``matched`` counts it too). The execution's input is the
event as received (``{"message": null, "payload": <body>}``); a trigger's own message template
does not apply here. A provider with no secret set is not served (404).
"""

from functools import lru_cache

from django.conf import settings
from django.db.models import Q

from accounts.services import outside_account_owner
from executions import policies
from executions.choices import ExecutionType
from executions.services import firing
from triggers import catalog, event_rules
from triggers import services as trigger_services
from triggers.catalog.entry import value_at
from triggers.choices import Delivery, TriggerOrigin
from triggers.models import Trigger
from webhooks.delivery import Ingested
from webhooks.errors import NotFound
from webhooks.pipeline import Challenge, Pipeline, WebhookRequest, compile_pipeline

APP_SECRET_SETTINGS = {
    "slack": "SLACK_SIGNING_SECRET",
    "github": "GITHUB_WEBHOOK_SECRET",
    "stripe": "STRIPE_WEBHOOK_SECRET",
}


@lru_cache(maxsize=8)
def _app_pipeline(provider_id: str, secret: str) -> Pipeline:
    return compile_pipeline(signature_verification={"preset": provider_id}, signing_secret=secret)


def receive_app_event(provider_id: str, request: WebhookRequest) -> Ingested:
    """One delivery to ``/v1/webhooks/<provider_id>`` (module docstring); raises
    WebhookRejected for a refused one."""
    secret = getattr(settings, APP_SECRET_SETTINGS.get(provider_id, ""), "")
    if not secret:
        raise NotFound("No webhook here.")
    outcome = _app_pipeline(provider_id, secret).run(
        request,
        credential_value=lambda reference: None,
        max_body_bytes=settings.WEBHOOK_MAX_BODY_BYTES,
        tolerance_seconds=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
    )
    if isinstance(outcome, Challenge):
        return Ingested(200, {"challenge": outcome.challenge})
    body = outcome.request_payload.get("body")
    stored = duplicates = refused = filtered = 0
    document = event_rules.event_document(outcome.input_data, outcome.request_payload)
    account = catalog.account_key(provider_id)
    tenant_id = outside_account_owner(provider_id=provider_id, account_id=account.of_event(body))
    for trigger in _candidates(provider_id, tenant_id, request.headers, body):
        entry = trigger.trigger_type
        if not entry.matches(trigger.config, request.headers, body):
            continue
        if event_rules.filtered_reason(event_rules.event_filter(trigger.config), document):
            trigger_services.trigger_count_filtered(trigger_id=trigger.pk)
            filtered += 1  # config.filter: counted, not stored, as a webhook's
            continue
        slack = entry.delivery == Delivery.EVENT
        try:
            fired = firing.execution_fire(
                trigger=trigger,
                execution_type=ExecutionType.SLACK if slack else ExecutionType.WEBHOOK,
                input_data=outcome.input_data,
                request_payload=outcome.request_payload,
                idempotency_key=outcome.idempotency_key,
            )
        except firing.FiringRefused:
            refused += 1  # over its limit, say; the others still get theirs
            continue
        stored += fired.created
        duplicates += not fired.created
    matched = stored + duplicates + refused + filtered
    return Ingested(
        200,
        {
            "matched": matched,
            "stored": stored,
            "duplicates": duplicates,
            "refused": refused,
            "filtered": filtered,
        },
    )


def _candidates(provider_id: str, tenant_id: str | None, headers, body):
    """The active provider triggers of the tenant the event's outside account belongs to
    (none when it belongs to no tenant), of the entries whose fixed conditions this event
    meets, narrowed in SQL by the config conditions (a trigger that leaves one out takes any)."""
    if tenant_id is None:
        return
    for entry in catalog.provider_entries(provider_id):
        if not entry.event or not entry.matches({}, headers, body):
            continue
        narrowed = Q()
        for condition in entry.event:
            if condition.config_key is None:
                continue
            key = condition.config_key
            value = value_at(body, condition.path) if condition.source == "body" else None
            narrowed &= (
                Q(**{f"config__{key}": value})
                | ~Q(config__has_key=key)
                | Q(**{f"config__{key}": ""})
                | Q(**{f"config__{key}__isnull": True})
            )
        yield from Trigger.objects.filter(
            narrowed,
            tenant_id=tenant_id,
            provider_id=provider_id,
            provider_trigger_id=entry.trigger_id,
            origin=TriggerOrigin.PROVIDER,
            status=policies.FIRING_STATUS,
        ).order_by("id")
