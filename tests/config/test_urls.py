"""Every path of the five API surfaces is served as the contracts write it, and with a
trailing slash too: tolerated, never required (docs/api.md)."""

import pytest
from django.urls import Resolver404, resolve

_UUID = "0b0f8a5e-6f0c-4a53-9d5e-3c1f0f6d2b7a"
_OTHER_UUID = "6a7c1d0e-2b4f-4e8a-9c3d-5f6e7a8b9c0d"
_MANAGE = "/manage/tenants/acme/projects/web/agents/support/triggers"

SURFACE_PATHS = [
    # frontend API
    "/api/triggers",
    "/api/triggers/7",
    "/api/triggers/7/duplicate",
    "/api/triggers/7/test",
    "/api/triggers/7/executions",
    "/api/executions/7",
    # agent API
    "/triggers",
    f"/triggers/{_UUID}",
    "/agents/support/triggers",
    "/agents/support/triggers/enable",
    "/agents/support/triggers/disable",
    # management API
    _MANAGE,
    f"{_MANAGE}/nightly",
    f"{_MANAGE}/nightly/invocations",
    f"{_MANAGE}/nightly/invocations/{_UUID}",
    # provider API
    "/projects/web/triggers",
    f"/triggers/{_UUID}/enable",
    f"/triggers/{_UUID}/disable",
    "/providers/stripe/triggers",
    "/providers/stripe/triggers/on_customer_created",
    "/v1/webhooks/slack",
    f"/v1/webhooks/{_UUID}",
    f"/api/v0/project-triggers/{_UUID}/test-samples",
    f"/organizations/acme/triggers/{_UUID}/webhook/key/trk_x",
    f"/organizations/acme/triggers/{_UUID}/polling/key/trk_x",
    f"/organizations/acme/triggers/{_UUID}/scheduled/key/trk_x",
    "/token",
    # flows API
    "/api/flows",
    f"/api/flows/{_UUID}",
    f"/api/flows/{_UUID}/nodes",
    f"/api/flows/{_UUID}/nodes/{_OTHER_UUID}",
    f"/api/flows/{_UUID}/connections",
    "/api/node-types",
    "/api/admin/migrate-user-intents",
]


def _view(path: str):
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return getattr(match.func, "cls", match.func), match.kwargs


@pytest.mark.parametrize("path", SURFACE_PATHS)
def test_a_surface_path_is_served_with_and_without_a_trailing_slash(path):
    without = _view(path)

    assert without is not None, f"{path} is not served"
    assert _view(path + "/") == without
