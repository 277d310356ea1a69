"""Error pages in JSON, in the error format of the surface the path belongs to: an API client
must never have to parse Django's HTML pages, nor another surface's error body.

Django answers some errors before any view runs, or outside it: an unknown path (404), a
request it finds suspicious (400: a Host not in ALLOWED_HOSTS, a body over
DATA_UPLOAD_MAX_MEMORY_SIZE — answered 413 here), a 403, a failed CSRF check
(``CSRF_FAILURE_VIEW``) and an uncaught exception (500). Each is written in the format of the
surface its path falls under; the admin's pages keep Django's own (HTML for a browser).
"""

from django.core.exceptions import RequestDataTooBig
from django.views import csrf, defaults

from api.errors import DRF_ERRORS, PROBLEM_ERRORS, STATUS_CODE_ERRORS, ApiError, ErrorFormat

# The admin is for browsers: its errors stay Django's HTML pages.
ADMIN_PATH_PREFIX = "/admin/"

# Surfaces whose errors are not DRF's, by path prefix (config/urls.py mounts them there).
ERROR_FORMATS_BY_PREFIX: tuple[tuple[str, ErrorFormat], ...] = (
    ("/api/flows", STATUS_CODE_ERRORS),
    ("/api/node-types", STATUS_CODE_ERRORS),
    ("/api/admin/migrate-user-intents", STATUS_CODE_ERRORS),
    ("/manage/", PROBLEM_ERRORS),
    ("/hooks/", PROBLEM_ERRORS),
    ("/v1/webhooks/", PROBLEM_ERRORS),
)


def error_format_for(path: str) -> ErrorFormat:
    for prefix, error_format in ERROR_FORMATS_BY_PREFIX:
        if path.startswith(prefix):
            return error_format
    return DRF_ERRORS


def not_found(request, exception=None):
    return error_format_for(request.path).http_response(ApiError(404, "Not found."), request)


def server_error(request):
    error = ApiError(500, "Internal server error.")
    return error_format_for(request.path).http_response(error, request)


def bad_request(request, exception=None):
    """``handler400``: a SuspiciousOperation Django raised (a disallowed Host, a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE: 413, too many fields …)."""
    if request.path.startswith(ADMIN_PATH_PREFIX):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        error = ApiError(413, "The request body is too large.", "payload_too_large")
    else:
        error = ApiError(400, "Bad request.", "bad_request")
    return error_format_for(request.path).http_response(error, request)


def permission_denied(request, exception=None):
    """``handler403``: a PermissionDenied raised outside the API's own handling."""
    if request.path.startswith(ADMIN_PATH_PREFIX):
        return defaults.permission_denied(request, exception)
    error = ApiError(403, "You do not have permission to perform this action.", "forbidden")
    return error_format_for(request.path).http_response(error, request)


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: a session-authenticated unsafe request without a valid CSRF
    token (the API's own check answers the same way, through its exception handler)."""
    if request.path.startswith(ADMIN_PATH_PREFIX):
        return csrf.csrf_failure(request, reason)
    error = ApiError(403, f"CSRF Failed: {reason}", "csrf_failed")
    return error_format_for(request.path).http_response(error, request)
