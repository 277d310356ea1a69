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
