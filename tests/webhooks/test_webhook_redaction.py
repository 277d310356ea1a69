"""Secrets never at rest in clear (issue 19, finding 5): what a delivery stores, and what a
message template can read of it, leaves out the trigger's own authentication header, its
signature's header or query parameter, and the configured secret headers."""

import hashlib
import hmac
import json

import pytest

from accounts.services import credential_create
from executions.models import Execution
from triggers.services import trigger_create

BODY = b'{"id": "evt_1"}'


@pytest.fixture
def make_hook(acme, alice):
    def make(**fields):
        return trigger_create(
            tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice,
            message_template="headers={{ headers }} query={{ query }}", **fields,
        )  # fmt: skip

    return make


def deliver(client, hook, query="", **headers):
    url = f"/hooks/{hook.webhook_endpoint.token}{query}"
    return client.post(url, data=BODY, content_type="application/json", headers=headers)


def stored_text() -> str:
    execution = Execution.objects.get()
    return json.dumps([execution.request_payload, execution.input_data])


def test_an_api_key_in_a_custom_header_is_kept_nowhere(client, acme, make_hook):
    credential_create(tenant=acme, name="key", value="k3y-in-clear")
    hook = make_hook(
        authentication={"type": "api_key", "header": "X-Token", "credentialReferenceId": "key"}
    )

    assert deliver(client, hook, X_Token="k3y-in-clear").status_code == 202

    assert "k3y-in-clear" not in stored_text()  # not in the request, nor the rendered message


def test_the_signature_header_is_not_stored(client, acme, make_hook):
    secret = credential_create(tenant=acme, name="gh", value="s3cret")
    hook = make_hook(signature_verification={"preset": "github"}, signing_secret=secret)
    signature = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()

    assert deliver(client, hook, X_Hub_Signature_256=signature, X_Kept="v").status_code == 202

    stored = Execution.objects.get().request_payload
    assert signature not in stored_text()
    assert "X-Kept" in stored["headers"]


def test_a_signature_in_the_query_is_not_stored(client, acme, make_hook):
    secret = credential_create(tenant=acme, name="q", value="s3cret")
    config = {
        "algorithm": "sha256", "encoding": "hex",
        "signature": {"source": "query", "key": "sig"},
        "signedComponents": [{"source": "body", "required": True}],
    }  # fmt: skip
    hook = make_hook(signature_verification=config, signing_secret=secret)
    signature = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()

    assert deliver(client, hook, query=f"?sig={signature}&page=2").status_code == 202

    assert Execution.objects.get().request_payload["query"] == {"page": "2"}
    assert signature not in stored_text()


def test_the_configured_secret_headers_are_not_stored(client, make_hook, settings):
    settings.WEBHOOK_SECRET_HEADERS = ["X-Shop-Secret"]
    hook = make_hook()

    response = deliver(
        client, hook, X_Shop_Secret="shh-1", X_Gitlab_Token="kept-now", Authorization="Bearer t"
    )

    assert response.status_code == 202
    headers = Execution.objects.get().request_payload["headers"]
    assert "shh-1" not in stored_text() and "Bearer t" not in stored_text()
    assert headers["X-Gitlab-Token"] == "kept-now"  # the setting replaced the default list


def test_the_default_list_covers_common_secret_headers(client, make_hook):
    hook = make_hook()

    deliver(client, hook, X_Gitlab_Token="glpat-secret", X_Auth_Token="tok-secret")

    assert "glpat-secret" not in stored_text() and "tok-secret" not in stored_text()
