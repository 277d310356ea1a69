from django.db import models


class MembershipRole(models.TextChoices):
    """What a member may do inside a tenant; ``viewer`` is read-only on every surface."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


WRITE_ROLES = frozenset({MembershipRole.OWNER, MembershipRole.ADMIN, MembershipRole.MEMBER})
