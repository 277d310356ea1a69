"""drf-spectacular hooks."""


def strip_optional_trailing_slash(endpoints, **kwargs):
    """Routes accept an optional trailing slash; the document shows the seeds' paths (none)."""
    return [
        (path.rstrip("/") or "/", path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'DRF\'s error body: {"detail": "..."} or, for invalid input, '
        '{"<field>": ["message", ...]} naming each bad field.'
    ),
    "additionalProperties": True,
}
_ERRORS = {
    "400": "Invalid input; the body names each bad field or parameter.",
    "401": "No or invalid credentials.",
    "403": "Not a member of a tenant, or a read-only role.",
    "404": "No such object in the caller's tenant.",
    "415": "The request body is not JSON.",
}


def document_error_responses(result, generator, request, public):
    """Add the error answers every authenticated operation can give to the document."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", _ERROR_SCHEMA)
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for _method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if not operation.get("security") or operation["security"] == [{}]:
                continue
            wanted = ["400", "401", "403"]
            if "{" in path:
                wanted.append("404")
            if "requestBody" in operation:
                wanted.append("415")
            for code in wanted:
                operation["responses"].setdefault(
                    code, {"description": _ERRORS[code], "content": reference}
                )
    return result
