"""String ids of tenants, projects and agents (``^[a-zA-Z0-9\\-_.]+$``)."""

import secrets

from django.core.validators import RegexValidator

PUBLIC_ID_PATTERN = r"^[a-zA-Z0-9\-_.]+$"
PUBLIC_ID_MAX_LENGTH = 255

validate_public_id = RegexValidator(
    PUBLIC_ID_PATTERN, "Use only letters, digits, '-', '_' and '.'.", code="invalid_id"
)


def generate_public_id(prefix: str) -> str:
    """A fresh id such as ``agt_8Gq3...`` when the client does not give one."""
    return f"{prefix}_{secrets.token_hex(8)}"
