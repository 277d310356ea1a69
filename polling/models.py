"""A polling trigger's state, beside its Trigger row (docs/polling.md); written only by
polling.services."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from polling.choices import PollStatus


class PollingState(models.Model):
    trigger = models.OneToOneField(
        "triggers.Trigger",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="polling_state",
    )
    # The interval config.polling_frequency asks for (kept with every trigger write); the
    # poller never polls more often than POLLING_MIN_INTERVAL_SECONDS.
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    # The next poll, in UTC; set only while the trigger is active (see the poll due index).
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # Where the polls are: what the source held at the last committed poll (item ids, the
    # newest item's time, the answer's ETag). Written only with that poll's executions.
    cursor = models.JSONField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=PollStatus.choices, blank=True)
    last_result = models.TextField(blank=True)
    # Consecutive failed polls; as many as the failure threshold freeze the trigger.
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # The poller's work queue: polling.services clears next_poll_at when a trigger
            # leaves active, so the rows here are the active ones.
            models.Index(
                fields=["next_poll_at"],
                name="polling_state_due",
                condition=Q(next_poll_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"polling state of trigger #{self.trigger_id}"

    @classmethod
    def of(cls, trigger) -> "PollingState | None":
        """The trigger's polling state (loaded with it where select_related); None for a
        trigger that has none."""
        try:
            return trigger.polling_state
        except cls.DoesNotExist:
            return None
