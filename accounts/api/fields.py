import re

from rest_framework import serializers

from accounts.identifiers import PUBLIC_ID_PATTERN

_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)


class TenantPublicIdRelatedField(serializers.SlugRelatedField):
    """A related object named by its ``public_id``, looked up only inside the caller's tenant."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "public_id")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # A value that cannot be an id is "not found" without asking the database.
        if not isinstance(data, str) or not _PUBLIC_ID.match(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)

    def get_queryset(self):
        return super().get_queryset().filter(tenant=self.context["request"].tenant)


def reject_nul_characters(value) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb: refuse it with a 400, not a 500."""
    if "\x00" in _json_text(value):
        raise serializers.ValidationError("Text may not contain the NUL character (U+0000).")


def _json_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "".join(str(k) + _json_text(v) for k, v in value.items())
    if isinstance(value, list):
        return "".join(_json_text(item) for item in value)
    return ""
