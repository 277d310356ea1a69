"""How a moment is written: ISO 8601 in UTC, ending in ``Z``.

The frontend API's client renders a timestamp by appending ``Z`` unless one is there, so
``…+00:00`` shows as "Invalid date". DRF's DateTimeField already writes UTC with ``Z``; this
module is the one place for everything else:

- ``iso_z`` writes a moment the service stores as text (in an execution's input or error);
- ``with_z_timestamps`` rewrites, in a JSON value about to be shown, every string that is an
  ISO 8601 timestamp at UTC written with ``+00:00`` (or ``-00:00``) to the same instant with
  ``Z`` — the frontend API's JSON fields (``input_data``, ``output_data``, ``tools_executed``)
  pass through it (``UtcJSONField``), so executions stored before, and what a runner or an
  agent wrote, are shown the same way. Other offsets and other strings are left as they are.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

# A whole string that is a date-time at UTC written with a numeric offset.
_UTC_OFFSET_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)[+-]00:?00"
)


def iso_z(moment: datetime) -> str:
    """``moment`` (aware) as ISO 8601 in UTC with ``Z``: ``2026-12-24T14:30:00Z``."""
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def with_z_timestamps(value: Any) -> Any:
    """``value`` (decoded JSON) with every UTC timestamp string ending in ``Z`` (see module)."""
    if isinstance(value, str):
        # Cheap test first: most strings end in neither offset.
        if value.endswith(("00:00", "0000")):
            matched = _UTC_OFFSET_TIMESTAMP.fullmatch(value)
            if matched:
                return matched.group(1) + "Z"
        return value
    if isinstance(value, dict):
        return {key: with_z_timestamps(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_z_timestamps(item) for item in value]
    return value


class UtcJSONField(serializers.JSONField):
    """A read-only JSON value shown with its UTC timestamps ending in ``Z``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return with_z_timestamps(super().to_representation(value))
