from rest_framework import serializers


class TenantPublicIdRelatedField(serializers.SlugRelatedField):
    """A related object named by its ``public_id``, looked up only inside the caller's tenant."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "public_id")
        super().__init__(**kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(tenant=self.context["request"].tenant)
