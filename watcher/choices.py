from django.db import models


class FileEvent(models.TextChoices):
    """What happened to a file, as a file_system trigger's ``events`` name it."""

    CREATED = "created", "Created"
    MODIFIED = "modified", "Modified"
    DELETED = "deleted", "Deleted"


class LedgerEvent(models.TextChoices):
    """How the ledger came to hold a file's version."""

    # Already there when the trigger's ledger started (its first scan): recorded, not fired.
    EXISTING = "existing", "Present at the first scan"
    CREATED = "created", "Created"
    MODIFIED = "modified", "Modified"
