from django.db import models


class PollStatus(models.TextChoices):
    """How a polling trigger's last poll ended (docs/polling.md); ``PollingState.last_result``
    says what it found or why it failed."""

    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    # The source answered 429: not a failure, the next poll waits as it asked.
    THROTTLED = "throttled", "Rate limited"
