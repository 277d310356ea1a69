"""String ids of tenants, projects and agents (``^[a-zA-Z0-9\\-_.]+$``)."""

import re
import secrets

from django.core.validators import RegexValidator

PUBLIC_ID_PATTERN = r"^[a-zA-Z0-9\-_.]+$"
PUBLIC_ID_MAX_LENGTH = 255

validate_public_id = RegexValidator(
    PUBLIC_ID_PATTERN, "Use only letters, digits, '-', '_' and '.'.", code="invalid_id"
)


def public_id_problem(value: str) -> str | None:
    """Why ``value`` is not a public id (the pattern, at most PUBLIC_ID_MAX_LENGTH characters),
    or None when it is one: for the callers that take an id outside a model field's checks
    (a path, a command's option)."""
    if not re.fullmatch(PUBLIC_ID_PATTERN, value):
        return validate_public_id.message
    if len(value) > PUBLIC_ID_MAX_LENGTH:
        return f"At most {PUBLIC_ID_MAX_LENGTH} characters."
    return None


def generate_public_id(prefix: str) -> str:
    """A fresh id such as ``agt_8Gq3...`` when the client does not give one."""
    return f"{prefix}_{secrets.token_hex(8)}"
