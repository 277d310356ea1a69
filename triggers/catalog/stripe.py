"""Stripe: webhooks signed with the connection's Stripe signing secret, one type per event."""

from triggers.catalog.entry import Condition, TriggerType
from triggers.choices import Delivery

_INSTRUCTIONS = (
    "In the Stripe dashboard, add a webhook endpoint with this trigger's URL "
    "(/v1/webhooks/<trigger id>) for the event, and store its signing secret (whsec_…) as "
    "the trigger's connection."
)


def _event(trigger_id: str, name: str, event_type: str, sample: dict) -> TriggerType:
    return TriggerType(
        "stripe", trigger_id, name, f"Fires on Stripe's {event_type} event.", Delivery.WEBHOOK,
        instructions=_INSTRUCTIONS, icon="stripe", tags=("payments", "stripe"),
        event=(Condition("body", "type", event_type),), signature_preset="stripe",
        sample_payload={"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event",
                        "type": event_type, "data": {"object": sample}},
    )  # fmt: skip


ON_CUSTOMER_CREATED = _event(
    "on_customer_created", "Customer created", "customer.created",
    {"id": "cus_NffrFeUfNV2Hib", "object": "customer", "email": "jenny@example.com"},
)  # fmt: skip
ON_PAYMENT_SUCCEEDED = _event(
    "on_payment_succeeded", "Payment succeeded", "payment_intent.succeeded",
    {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 2000,
     "currency": "usd", "status": "succeeded"},
)  # fmt: skip
ON_INVOICE_PAID = _event(
    "on_invoice_paid", "Invoice paid", "invoice.paid",
    {"id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "object": "invoice", "amount_paid": 2000,
     "status": "paid"},
)  # fmt: skip

ENTRIES = (ON_CUSTOMER_CREATED, ON_PAYMENT_SUCCEEDED, ON_INVOICE_PAID)
