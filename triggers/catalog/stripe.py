"""Stripe: webhooks signed with the connection's Stripe signing secret, one type per event."""

from triggers.catalog.entry import AccountKey, Condition, TriggerType, string_property
from triggers.choices import Delivery

_INSTRUCTIONS = (
    "In the Stripe dashboard, add a webhook endpoint with this trigger's URL "
    "(/v1/webhooks/<trigger id>) for the event, and store its signing secret (whsec_…) as "
    "the trigger's connection."
)

_SCHEMA = {
    "type": "object",
    "properties": {
        "account_id": string_property(
            "Connected account",
            "Only this connected account's events (acct_…), through the Stripe app's URL; "
            "any when absent.",
            pattern="^acct_[A-Za-z0-9]{1,250}$",
        ),
    },
    "additionalProperties": False,
}  # fmt: skip
# The account an event of the Stripe app's endpoint comes from: a connected account's events
# carry ``account``; the endpoint owner's own carry none and count as ``platform``, which only
# an operator can bind (no trigger_config can name it).
PLATFORM_ACCOUNT = "platform"


def _account(body) -> str:
    account = body.get("account") if isinstance(body, dict) else None
    return account if isinstance(account, str) and account else PLATFORM_ACCOUNT


ACCOUNT = AccountKey(
    "Stripe account", "account_id", of_event=_account, of_config=lambda value: value or None
)


def _event(trigger_id: str, name: str, event_type: str, sample: dict) -> TriggerType:
    return TriggerType(
        "stripe", trigger_id, name, f"Fires on Stripe's {event_type} event.", Delivery.WEBHOOK,
        instructions=_INSTRUCTIONS, icon="stripe", tags=("payments", "stripe"),
        config_schema=_SCHEMA, signature_preset="stripe",
        event=(Condition("body", "type", event_type),
               Condition("body", "account", config_key="account_id")),
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
