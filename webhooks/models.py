"""What a webhook (or Slack event) trigger needs beyond the trigger's core: its URL, the one
method it takes, how a sender proves itself, and what a delivery becomes. One row per such
trigger, written only by webhooks.services (docs/webhooks.md)."""

from django.conf import settings
from django.db import models

from triggers.choices import WebhookMethod


class WebhookEndpoint(models.Model):
    trigger = models.OneToOneField(
        "triggers.Trigger",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoint",
    )
    # The secret part of the generated webhook URL; unguessable, regenerated on duplicate.
    token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # The agent API's ``config.path``: a custom, tenant-chosen path; unique service-wide.
    path = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # The one method the webhook URL accepts (405 with Allow for the others).
    method = models.CharField(
        max_length=8, choices=WebhookMethod.choices, default=WebhookMethod.POST
    )
    # SHA-256 of the trigger's own webhook secret (config.authentication_required), which a
    # sender presents in X-Webhook-Secret; the secret is shown once, when it is made.
    secret_digest = models.CharField(max_length=64, blank=True, editable=False)
    authentication = models.JSONField(null=True, blank=True)
    signature_verification = models.JSONField(null=True, blank=True)
    signing_secret = models.ForeignKey(
        "accounts.Credential",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="signed_endpoints",
        db_index=False,
    )
    input_schema = models.JSONField(null=True, blank=True)
    message_template = models.TextField(blank=True)
    output_transform = models.JSONField(null=True, blank=True)
    # A new random value whenever something a delivery relies on changes: a column of this
    # row, a versioned column of its trigger, the signing secret's value. Kept by PostgreSQL
    # (webhooks/migrations/0002), whatever writes either row; NULL on other databases.
    delivery_version = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            # Deleting or rotating a credential finds the endpoints it signs.
            models.Index(
                fields=["signing_secret"],
                name="webhook_signing_secret",
                condition=models.Q(signing_secret__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"webhook of trigger #{self.trigger_id}"

    @property
    def url(self) -> str | None:
        if not self.token:
            return None
        return f"{settings.PUBLIC_BASE_URL}/hooks/{self.token}"
