"""Input-schema checks bounded (issue 25, finding 3): ``uniqueItems`` in O(n log n) with
jsonschema's notion of equal; every validation on a budget (steps, a deadline, memory for its
errors) that grows with the body; a schema that multiplies its own work refused when saved;
a delivery answered with a 4xx problem and nothing stored (webhooks/input_schema.py)."""

import json
import time
import tracemalloc

import pytest
from jsonschema import Draft202012Validator

from executions.models import Execution
from triggers.models import Trigger
from webhooks.errors import UnprocessableEntity
from webhooks.input_schema import MAX_SCHEMA_ERRORS, compile_input_schema, validate_input

MANAGE = "/manage/tenants/acme/projects/support/agents/triage/triggers"
UNIQUE = {"type": "array", "uniqueItems": True}
# The probe's body: 12,000 small objects, 157 KB (unbounded: the worker killed after 30 s).
OBJECTS = [{"n": n} for n in range(12_000)]


def problem_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    return body


@pytest.fixture
def unique_hook(alice_client, client, acme_agent):
    created = alice_client.post(MANAGE, {"name": "u", "inputSchema": UNIQUE}, format="json")
    assert created.status_code == 201, created.content
    path = created.json()["data"]["webhookUrl"].split("triggers.example.test", 1)[1]

    def deliver(body: bytes):
        return client.post(path, data=body, content_type="application/json")

    return deliver


def test_twelve_thousand_unique_objects_are_checked_in_n_log_n(unique_hook):
    body = json.dumps(OBJECTS).encode()
    assert 155_000 < len(body) < 160_000

    started = time.monotonic()
    response = unique_hook(body)
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.content
    assert Execution.objects.get().input_data["payload"] == OBJECTS
    assert elapsed < 5  # pairwise, as jsonschema compares objects: 30 s and more


def test_a_repeated_object_is_found_and_nothing_is_stored(unique_hook):
    repeated = [*OBJECTS, {"n": 17.0}]  # 17 as a float is 17

    body = problem_of(unique_hook(json.dumps(repeated).encode()), 422, "input_schema_mismatch")

    assert body["errors"] == [
        {"path": "", "message": "The array has non-unique elements (items 17 and 12000 are equal)"}
    ]
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    "items",
    [
        [1, 1.0], [1, True], [0, False], [True, True], [[1], [True]], [[1], [1.0]],
        [{"a": 1, "b": 2}, {"b": 2, "a": 1}], [{"a": 1}, {"a": 1, "b": None}], ["1", 1],
        [None, None], [None, False], [[], {}], [{"a": [1.0, {"b": 2}]}, {"a": [1, {"b": 2.0}]}],
        ["é", "e\u0301"], [1.5, 1.5], [10**20, 1e20], [[], []],
    ],
)  # fmt: skip
def test_unique_items_means_what_jsonschema_means(items):
    expected = Draft202012Validator(UNIQUE).is_valid(items)

    try:
        validate_input(compile_input_schema(UNIQUE), items)
        found = True
    except UnprocessableEntity:
        found = False

    assert found is expected


def test_a_schema_that_doubles_its_work_per_level_is_stopped_by_the_budget():
    doubling = {
        "$defs": {"node": {"allOf": [{"properties": {"a": {"$ref": "#/$defs/node"}}}] * 2}},
        "$ref": "#/$defs/node",
    }
    body: dict = {}
    for _ in range(60):
        body = {"a": body}  # 2^60 checks, on 300 bytes

    with pytest.raises(UnprocessableEntity) as refused:
        validate_input(compile_input_schema(doubling), body, input_bytes=300)

    assert refused.value.code == "input_schema_too_costly"
    assert "took" in str(refused.value)  # its steps or its time


def test_a_delivery_the_schema_makes_too_costly_is_a_422_and_stores_nothing(
    alice_client, client, acme_agent
):
    doubling = {
        "$defs": {"node": {"anyOf": [{"properties": {"a": {"$ref": "#/$defs/node"}},
                                      "required": ["never"]}] * 2 + [True]}},
        "$ref": "#/$defs/node",
    }  # fmt: skip
    created = alice_client.post(MANAGE, {"name": "d", "inputSchema": doubling}, format="json")
    assert created.status_code == 201, created.content
    path = created.json()["data"]["webhookUrl"].split("triggers.example.test", 1)[1]
    body = "{}"
    for _ in range(60):
        body = '{"a": ' + body + "}"

    response = client.post(path, data=body, content_type="application/json")

    problem_of(response, 422, "input_schema_too_costly")
    assert not Execution.objects.exists()


def test_errors_are_listed_up_to_a_hundred_each_message_clipped():
    schema = compile_input_schema({"items": {"type": "string"}})
    body = [1] * 500_000 + [{"k": "x" * 10_000}]

    with pytest.raises(UnprocessableEntity) as refused:
        validate_input(schema, body)

    assert len(refused.value.errors) == MAX_SCHEMA_ERRORS
    assert "the first 100 errors" in str(refused.value)
    with pytest.raises(UnprocessableEntity) as clipped:
        validate_input(compile_input_schema({"type": "string"}), {"k": "x" * 10_000})
    assert len(clipped.value.errors[0]["message"]) == 500


def test_errors_held_by_any_of_count_against_the_memory_budget():
    # 1,000 branches, each failing with the 1 MB value in its message: 1 GB if all were held.
    schema = compile_input_schema({"anyOf": [{"type": "string"}] * 1000})
    body = {"k": "x" * 1_000_000}

    tracemalloc.start()
    with pytest.raises(UnprocessableEntity) as refused:
        validate_input(schema, body, input_bytes=1_000_012)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert refused.value.code == "input_schema_too_costly"
    assert "made more than" in str(refused.value)
    assert peak < 80 * 1024 * 1024


def test_a_regex_too_deep_for_python_is_not_a_regex():
    schema = compile_input_schema({"format": "regex"})

    with pytest.raises(UnprocessableEntity) as refused:
        validate_input(schema, "(" * 5000 + ")" * 5000)  # RecursionError in re's parser

    assert refused.value.code == "input_schema_mismatch"
    validate_input(schema, "^(a|b)+$")


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"$ref": "#"}, "refers back to itself"),
        ({"allOf": [{"$ref": "#"}]}, "refers back to itself"),
        ({"$defs": {**{f"d{n}": {"allOf": [{"$ref": f"#/$defs/d{n + 1}"}] * 4}
                       for n in range(8)}, "d8": {"type": "object"}},
          "$ref": "#/$defs/d0"}, "took more than 10,000 steps"),
    ],
    ids=["itself", "through allOf", "4^8 refs"],
)  # fmt: skip
def test_a_schema_that_multiplies_its_own_work_is_refused_when_saved(
    alice_client, acme_agent, schema, words
):
    response = alice_client.post(MANAGE, {"name": "s", "inputSchema": schema}, format="json")

    body = problem_of(response, 422, "unprocessable_entity")
    assert "inputSchema" in body["detail"] and words in body["detail"], body["detail"]
    assert not Trigger.objects.exists()
