"""Error pages in JSON, in the error format of the surface the path belongs to: an API client
must never have to parse Django's HTML pages, nor another surface's error body."""

from api.errors import DRF_ERRORS, PROBLEM_ERRORS, STATUS_CODE_ERRORS, ApiError, ErrorFormat

# Surfaces whose errors are not DRF's, by path prefix (config/urls.py mounts them there).
ERROR_FORMATS_BY_PREFIX: tuple[tuple[str, ErrorFormat], ...] = (
    ("/api/flows", STATUS_CODE_ERRORS),
    ("/api/node-types", STATUS_CODE_ERRORS),
    ("/api/admin/migrate-user-intents", STATUS_CODE_ERRORS),
    ("/manage/", PROBLEM_ERRORS),
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
