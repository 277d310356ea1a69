"""drf-spectacular: each operation documents the errors of its own surface.

``SurfaceAutoSchema`` (``DEFAULT_SCHEMA_CLASS``) adds to every authenticated operation the
error answers it can give — 400, 401, 403, 429 (throttled), 404 (paths with an id), 413 and
415 (operations with a body), 422 and 500 where the surface documents them — with the body
and media type of the view's ``error_format`` (api/errors.py), so the flows API documents
``{statusCode, message, error}`` and the management API ``application/problem+json``.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from api.errors import DRF_ERRORS, PROBLEM_ERRORS

_ERRORS = {
    "400": "Invalid input; the body names each bad field or parameter.",
    "401": "No or invalid credentials.",
    "403": "Not a member of a tenant, or a read-only role.",
    "404": "No such object in the caller's tenant.",
    "413": "The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.",
    "415": "The request body is not JSON.",
    "409": "The trigger's state refuses it (not active, a single run spent).",
    "411": "A chunked body: send it with a Content-Length.",
    "422": "Well-formed, but a business rule refuses it; the body names the field.",
    "429": "Too many failed token authentications from this address (or runs of this "
    "trigger); Retry-After says when to try again.",
    "500": "An unexpected error; logged with the request id.",
    "502": "A polled source could not be fetched or read; the body says why.",
}


def may_refuse(*codes: str):
    """Mark a view method whose operation a firing rule may also refuse with ``codes`` (409
    for a trigger not active, 429 over a limit), documented in the surface's error format."""

    def mark(function):
        function.refusals = codes
        return function

    return mark


class SurfaceAutoSchema(AutoSchema):
    """A view may list its error statuses itself (``documented_errors``): the public ones
    (the catalog, ``/token``, deliveries), which the defaults below do not cover."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        documented = getattr(self.view, "documented_errors", None)
        public = not operation or not operation.get("security") or operation["security"] == [{}]
        if not operation or (public and documented is None):
            return operation
        error_format = getattr(self.view, "error_format", DRF_ERRORS)
        component = ResolvedComponent(
            name=error_format.schema_name,
            type=ResolvedComponent.SCHEMA,
            object=error_format.schema_name,
            schema=error_format.schema,
        )
        registry.register_on_missing(component)
        content = {error_format.media_type: {"schema": component.ref}}
        wanted = list(documented or ["400", "401", "403", "429"])
        handler = getattr(self.view, getattr(self.view, "action", None) or method.lower(), None)
        wanted += [code for code in getattr(handler, "refusals", ()) if code not in wanted]
        if documented is None:
            if "{" in path:
                wanted.append("404")
            if "requestBody" in operation:
                wanted += ["413", "415"]
            if getattr(self.view, "domain_error_status", 400) == 422:
                wanted.append("422")
            if error_format is PROBLEM_ERRORS:  # the problem-speaking surface promises 500s
                wanted.append("500")
        for code in wanted:
            operation["responses"].setdefault(
                code, {"description": _ERRORS[code], "content": content}
            )
        return operation


def strip_optional_trailing_slash(endpoints, **kwargs):
    """Routes accept an optional trailing slash; the document shows the paths without one."""
    return [
        (path.rstrip("/") or "/", path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]
