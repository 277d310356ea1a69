"""Bounds on every amplifier (issue 19, finding 1): a template with more placeholders than
MAX_PLACEHOLDERS is refused when saved; rendering stops before it passes its limit; a webhook
delivery that would make the message or the transformed payload too large is refused, and
nothing is stored."""

import json
import tracemalloc

import pytest

from executions.models import Execution
from triggers.services import trigger_create
from triggers.templating import (
    MAX_PLACEHOLDERS,
    TemplateTooLarge,
    check_template_size,
    render_message_template,
)

MANAGE = "/manage/tenants/acme/projects/support/agents/triage/triggers"
AMPLIFIER = "{{ input }}" * 300


def test_three_hundred_placeholders_are_refused_when_saved(alice_client):
    body = {"name": "T", "trigger_type": "webhook", "task_prompt": AMPLIFIER}

    response = alice_client.post("/api/triggers", body, format="json")

    assert response.status_code == 400
    assert "300 placeholders; at most 100" in response.json()["task_prompt"][0]


def test_a_message_template_with_too_many_placeholders_is_refused(alice_client, acme_agent):
    body = {"id": "t", "name": "T", "messageTemplate": "{{ body }}" * (MAX_PLACEHOLDERS + 1)}

    response = alice_client.post(MANAGE, body, format="json")

    assert response.status_code == 422
    assert "messageTemplate" in response.json()["detail"]


def test_a_template_larger_than_the_limit_is_refused():
    check_template_size("x" * 1000, max_bytes=1000)
    with pytest.raises(ValueError, match="longer than 1000 bytes"):
        check_template_size("é" * 501, max_bytes=1000)


def test_rendering_stops_before_building_the_oversized_text():
    context = {"input": {"text": "x" * 1024 * 1024}}  # 1 MiB

    tracemalloc.start()
    with pytest.raises(TemplateTooLarge, match="larger than 262144 bytes"):
        render_message_template("{{ input }}" * 100, context, max_bytes=256 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert peak < 8 * 1024 * 1024  # one serialised copy of the input, not 100 of them


def test_each_placeholder_counts_its_utf8_bytes():
    context = {"v": "é" * 10}  # 20 bytes

    assert render_message_template("{{ v }}", context, max_bytes=20) == "é" * 10
    with pytest.raises(TemplateTooLarge):
        render_message_template("{{ v }}", context, max_bytes=19)


@pytest.fixture
def hook(acme, alice):
    def make(**fields):
        return trigger_create(
            tenant=acme, provider_trigger_id="webhook", name="h", created_by=alice, **fields
        )

    return make


def deliver(client, trigger, body):
    return client.post(
        f"/hooks/{trigger.webhook_endpoint.token}",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_a_delivery_that_makes_the_message_too_large_is_refused(client, hook, settings):
    settings.RENDERED_TEXT_MAX_BYTES = 64 * 1024
    trigger = hook(message_template="{{ body.text }}\n" * 100)

    response = deliver(client, trigger, {"text": "x" * 1000})  # 100 KB of message

    assert response.status_code == 422
    assert response.json()["code"] == "message_too_large"
    assert not Execution.objects.exists()
    assert deliver(client, trigger, {"text": "short"}).status_code == 202


def test_a_transform_that_multiplies_the_payload_is_refused(client, hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 64 * 1024
    fields = {f"copy{i}": "@" for i in range(64)}
    trigger = hook(output_transform={"objectTransformation": fields})

    response = deliver(client, trigger, {"text": "x" * 10_000})  # 64 copies: 640 KB

    assert response.status_code == 422
    assert response.json()["code"] == "output_transform_failed"
    assert "larger than 65536 bytes" in response.json()["detail"]
    assert not Execution.objects.exists()


def test_a_transform_that_makes_an_unstorable_number_is_refused(client, hook):
    trigger = hook(output_transform={"jmespath": "sum(values)"})

    response = deliver(client, trigger, {"values": [1e308, 1e308]})

    assert response.status_code == 422 and "not finite" in response.json()["detail"]
    assert not Execution.objects.exists()
