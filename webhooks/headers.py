"""Reading a webhook request's headers, as every step of the pipeline does."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.datastructures import CaseInsensitiveMapping


def get_header(
    headers: Mapping[str, str], name: str, *, case_sensitive: bool = False
) -> str | None:
    """The value of header `name`, or None. Matches names case-insensitively unless told not to."""
    if case_sensitive:
        # Iterate rather than .get(): a case-insensitive mapping (Django's) would ignore case.
        return next((value for key, value in headers.items() if key == name), None)
    value = headers.get(name)
    if value is not None or isinstance(headers, CaseInsensitiveMapping):
        return value  # a request's headers (Django's) ignore case already: no second look
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
