"""JMESPath bounded (issue 25, findings 4 and 6): an expression that multiplies its input is
stopped while it runs, within its byte budget; one too long or too deep is refused when saved
(outputTransform, signature keys, items_path), a 4xx naming the field, never a 500 — and
nothing is stored (triggers/jmespath_bounded.py)."""

import json
import tracemalloc

import jmespath
import pytest
from jmespath.exceptions import JMESPathError

from executions.models import Execution
from polling.errors import PollFailed
from polling.json_items import read_json_items
from triggers import jmespath_bounded
from triggers.jmespath_bounded import (
    MAX_EXPRESSION_DEPTH,
    Evaluation,
    ExpressionTooComplex,
    ExpressionTooCostly,
    compile_expression,
)
from triggers.models import Trigger
from triggers.services import trigger_create
from webhooks import signatures
from webhooks.errors import Unauthorized

MANAGE = "/manage/tenants/acme/projects/support/agents/triage/triggers"
# The probe's expression: about 300 characters, each stage doubles what to_string writes.
AMPLIFIER = "@" + " | [@,@] | to_string(@)" * 13
DEEP = "(" * 5000 + "a" + ")" * 5000  # 5,000 levels
LONG_OR = "a" + " || a" * 50_000  # 50,000 terms
SHORT_BUT_DEEP = "!" * 1000 + "a"  # 1,001 characters, 1,000 levels
WIDE_OR = "a" + "||a" * 100  # 301 characters, a tree 101 levels deep


def body_of(size: int) -> dict:
    return {"items": [{"id": i, "text": "x" * 40} for i in range(size // 60)]}


# -- the amplifier -----------------------------------------------------------------------------


def test_the_amplifier_is_stopped_while_it_runs_within_its_byte_budget():
    body = body_of(10_000)  # unbounded: 2.1 s and 669 MB

    tracemalloc.start()
    with pytest.raises(ExpressionTooCostly, match="larger than 1,048,576 bytes as JSON"):
        jmespath_bounded.search(AMPLIFIER, body, input_bytes=10_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert peak < 32 * 1024 * 1024


def test_a_delivery_through_the_amplifier_is_a_422_and_stores_nothing(
    alice_client, client, acme_agent
):
    created = alice_client.post(
        MANAGE, {"name": "amp", "outputTransform": {"jmespath": AMPLIFIER}}, format="json"
    )
    assert created.status_code == 201, created.content
    path = created.json()["data"]["webhookUrl"].split("triggers.example.test", 1)[1]

    response = client.post(
        path, data=json.dumps(body_of(40_000)), content_type="application/json"
    )  # unbounded: 8.2 s and 1.26 GB

    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "output_transform_failed"
    # Stopped while it ran: the size check after the evaluation words it differently.
    assert "made a value larger than 1,048,576 bytes" in problem["detail"]
    assert not Execution.objects.exists()


def test_every_key_of_an_object_transformation_shares_one_budget(client, acme, alice):
    expression = "[@,@,@,@,@,@,@,@][]" * 4  # 4,096 items: a fifth of a small body's budget
    jmespath_bounded.search(expression, [1], input_bytes=3)
    trigger = trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="t", created_by=alice,
        output_transform={"objectTransformation": {f"k{i}": expression for i in range(40)}},
    )  # fmt: skip

    response = client.post(
        f"/hooks/{trigger.webhook_endpoint.token}", data=b"[1]", content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["code"] == "output_transform_failed"
    assert "the expression took" in response.json()["detail"]  # its steps or its time
    assert not Execution.objects.exists()


DOUBLED = "(@" + " | [@,@]" * 12 + ")"  # 4,096 copies of the input, as a tree


@pytest.mark.parametrize(
    "expression",
    [
        "[@,@][]" * 25,
        f"[{DOUBLED} == {DOUBLED}, {DOUBLED} == {DOUBLED}, {DOUBLED} == {DOUBLED}]",
        "map(&to_string(@), [@,@,@,@,@,@,@,@]" + " | [@,@,@,@,@,@,@,@][]" * 3 + ")",
    ],
    ids=["flatten doubling", "comparing large values", "to_string over copies"],
)
def test_what_an_expression_makes_or_compares_is_charged(expression):
    with pytest.raises(ExpressionTooCostly):
        jmespath_bounded.search(expression, [1] * 1000, input_bytes=2000)


def test_join_is_measured_before_it_runs():
    # A 100 KB separator between 100,000 strings would be 10 GB.
    data = {"sep": "x" * 100_000, "parts": [""] * 100_000}

    with pytest.raises(ExpressionTooCostly, match="larger than"):
        jmespath_bounded.search("join(sep, parts)", data)


# -- refused when saved ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (DEEP, "10,001 characters long; at most 4,096"),
        (LONG_OR, "characters long; at most 4,096"),
        (SHORT_BUT_DEEP, f"nests deeper than {MAX_EXPRESSION_DEPTH} levels"),
        (WIDE_OR, f"nests 101 levels deep; at most {MAX_EXPRESSION_DEPTH}"),
        ("`" + "[" * 2000 + "]" * 2000 + "`", "nests too deeply"),  # a JSON literal
    ],
    ids=["5,000 levels", "50,000 terms", "1,000 nots", "a chain of 101", "deep literal"],
)
def test_expressions_too_long_or_too_deep_are_refused_when_compiled(text, words):
    with pytest.raises(ExpressionTooComplex, match=words):
        compile_expression(text)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("outputTransform", {"jmespath": DEEP}, "outputTransform.jmespath"),
        ("outputTransform", {"jmespath": LONG_OR}, "outputTransform.jmespath"),
        ("outputTransform", {"objectTransformation": {"a": SHORT_BUT_DEEP}},
         "outputTransform.objectTransformation.a"),
        ("signatureVerification",
         {"algorithm": "sha256", "encoding": "hex", "signature": {"source": "body", "key": DEEP},
          "signedComponents": [{"source": "body"}]},
         "signatureVerification.signature.key"),
        ("signatureVerification",
         {"algorithm": "sha256", "encoding": "hex", "signature": {"source": "header", "key": "S"},
          "signedComponents": [{"source": "body", "key": WIDE_OR}]},
         "signatureVerification.signedComponents[0].key"),
    ],
    ids=["deep transform", "50,000 terms", "deep field", "deep signature key", "wide component"],
)  # fmt: skip
def test_the_management_api_refuses_them_with_a_422_naming_the_field(
    alice_client, acme_agent, field, value, named
):
    response = alice_client.post(MANAGE, {"name": "x", field: value}, format="json")

    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert named in response.json()["detail"], response.json()["detail"]
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("items_path", [DEEP, SHORT_BUT_DEEP, LONG_OR])
def test_the_provider_api_refuses_a_deep_items_path_with_a_400(
    alice_client, acme_project, items_path
):
    response = alice_client.post(
        f"/projects/{acme_project.public_id}/triggers",
        {"provider_id": "http", "trigger_id": "on_new_json_item",
         "trigger_config": {"url": "https://example.com/items", "items_path": items_path}},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400, response.content
    assert "trigger_config.items_path" in response.json()
    assert not Trigger.objects.exists()


# -- evaluated on what a sender sends ----------------------------------------------------------


def test_a_signature_body_key_that_multiplies_is_a_missing_component():
    config = signatures.validate_signature_config(
        {"algorithm": "sha256", "encoding": "hex", "signature": {"source": "header", "key": "S"},
         "signedComponents": [{"source": "body", "key": AMPLIFIER}]}
    )  # fmt: skip

    with pytest.raises(Unauthorized):
        signatures.verify_signature(
            config, secrets=[b"k"], headers={"S": "00"}, query={},
            body=json.dumps(body_of(10_000)).encode(),
        )  # fmt: skip


def test_a_polled_answer_through_a_multiplying_items_path_fails_the_poll():
    body = json.dumps(body_of(10_000)).encode()

    with pytest.raises(PollFailed, match="larger than"):
        read_json_items(body, items_path="[@,@] | " * 10 + "[]")


@pytest.mark.parametrize(
    ("expression", "data"),
    [
        ("ceil(to_number('1e999'))", {}),
        ("max_by(@, &a)", [{"a": 1}, {"a": "x"}]),
        ("[::0]", [1, 2]),
    ],
)
def test_python_errors_of_the_library_are_jmespath_errors(expression, data):
    with pytest.raises(JMESPathError):
        jmespath_bounded.search(expression, data)


def test_ordering_a_string_against_a_number_is_null_as_the_specification_says():
    assert jmespath_bounded.search('`"a"` < `1`', {}) is None


@pytest.mark.parametrize(
    "expression",
    [
        "items[*].{id: id, n: text}", "items[?id > `5`].id | [0]", "sort_by(items, &id)[-1].id",
        "items[].id | sum(@)", "to_string(items[0])", "join(',', items[*].text)",
        "merge(items[0], {extra: `1`})", "values(items[0])", "length(items)", "items[1:3]",
        "[items[0].id, items[1].id] == [`0`, `1`]", "map(&id, items)", "reverse(items)[0].id",
    ],
)  # fmt: skip
def test_ordinary_expressions_give_what_the_library_gives(expression):
    data = body_of(3_000)

    assert jmespath_bounded.search(expression, data) == jmespath.search(expression, data)


def test_one_evaluation_charges_every_search_to_one_meter():
    evaluation = Evaluation(input_bytes=0)
    expression = compile_expression("[*].a")

    evaluation.search(expression, [{"a": 1}] * 10)
    used = evaluation.meter.steps
    evaluation.search(expression, [{"a": 1}] * 10)

    assert evaluation.meter.steps == 2 * used > 20
