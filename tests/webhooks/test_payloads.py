"""Body size, parsing, input schema, idempotency keys and output transforms: the steps of
webhooks/pipeline.py, each in its own module."""

import json
from urllib.parse import urlencode

import pytest

from webhooks.errors import (
    BadRequest,
    PayloadTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from webhooks.headers import get_header
from webhooks.idempotency import extract_idempotency_key, validate_idempotency_spec
from webhooks.input_schema import validate_input, validate_input_schema_config
from webhooks.parsing import (
    MAX_BODY_BYTES,
    check_body_size,
    parse_body,
    slack_url_verification_challenge,
)
from webhooks.transforms import apply_output_transform, compile_output_transform

# --- headers and size --------------------------------------------------------------------


def test_get_header_ignores_case_by_default():
    assert get_header({"X-GitHub-Event": "push"}, "x-github-event") == "push"
    assert get_header({"X-GitHub-Event": "push"}, "X-Other") is None


def test_get_header_can_match_case_exactly():
    headers = {"X-GitHub-Event": "push"}

    assert get_header(headers, "X-GitHub-Event", case_sensitive=True) == "push"
    assert get_header(headers, "x-github-event", case_sensitive=True) is None


def test_the_default_limit_is_one_mebibyte():
    assert MAX_BODY_BYTES == 1_048_576
    check_body_size(MAX_BODY_BYTES)
    with pytest.raises(PayloadTooLarge):
        check_body_size(MAX_BODY_BYTES + 1)


def test_check_body_size_rejects_over_the_limit_with_413():
    check_body_size(10, limit=10)

    with pytest.raises(PayloadTooLarge) as excinfo:
        check_body_size(11, limit=10)

    assert excinfo.value.status == 413
    assert "11 bytes" in excinfo.value.detail


# --- parse_body --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/cloudevents+json",
    ],
)
def test_it_parses_json(content_type):
    assert parse_body(b'{"a": [1, "\xc3\xa9"]}', content_type) == {"a": [1, "é"]}


@pytest.mark.parametrize("body", [b"{", b'{"a": NaN}', b"[Infinity]", b"\xff\xfe\x00"])
def test_it_rejects_invalid_json_with_400(body):
    with pytest.raises(BadRequest) as excinfo:
        parse_body(body, "application/json")

    assert excinfo.value.status == 400
    assert excinfo.value.code == "invalid_json"


def test_it_rejects_absurdly_nested_json_with_400():
    with pytest.raises(BadRequest):
        parse_body(b"[" * 100_000 + b"]" * 100_000, "application/json")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", None]
)
def test_an_empty_body_is_none(content_type):
    assert parse_body(b"", content_type) is None


def test_it_parses_forms_into_strings_and_lists():
    body = b"command=%2Fdeploy&text=&channel=C1&tag=a&tag=b"

    assert parse_body(body, "application/x-www-form-urlencoded") == {
        "command": "/deploy",
        "text": "",
        "channel": "C1",
        "tag": ["a", "b"],
    }


def test_it_decodes_the_json_payload_field_of_slack_and_github_forms():
    payload = {"type": "block_actions", "actions": [{"action_id": "approve"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()

    data = parse_body(body, "application/x-www-form-urlencoded; charset=utf-8")

    assert data == {"payload": payload}


def test_it_rejects_a_payload_field_that_is_not_json():
    body = urlencode({"payload": "{not json"}).encode()

    with pytest.raises(BadRequest) as excinfo:
        parse_body(body, "application/x-www-form-urlencoded")

    assert "payload" in excinfo.value.detail


def test_it_rejects_a_form_that_is_not_utf8():
    with pytest.raises(BadRequest) as excinfo:
        parse_body(b"name=%FF%FE", "application/x-www-form-urlencoded")

    assert excinfo.value.code == "invalid_form"


def test_it_rejects_a_form_with_too_many_fields():
    body = "&".join(f"f{i}=1" for i in range(1001)).encode()

    with pytest.raises(BadRequest):
        parse_body(body, "application/x-www-form-urlencoded")


def test_it_reads_text_as_a_string():
    assert parse_body("héllo".encode(), "text/plain; charset=utf-8") == "héllo"
    with pytest.raises(BadRequest):
        parse_body(b"\xff", "text/plain")


@pytest.mark.parametrize("content_type", ["application/xml", "application/octet-stream", None, ""])
def test_it_rejects_other_content_types_with_415(content_type):
    with pytest.raises(UnsupportedMediaType) as excinfo:
        parse_body(b"<a/>", content_type)

    assert excinfo.value.status == 415


# --- Slack url_verification --------------------------------------------------------------


def test_it_finds_the_slack_challenge():
    data = {
        "token": "t",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }

    assert slack_url_verification_challenge(data) == data["challenge"]


@pytest.mark.parametrize(
    "data",
    [
        {"type": "event_callback", "challenge": "x"},
        {"type": "url_verification"},
        {"type": "url_verification", "challenge": 42},
        ["url_verification"],
        None,
    ],
)
def test_it_finds_no_challenge_elsewhere(data):
    assert slack_url_verification_challenge(data) is None


# --- input schema ------------------------------------------------------------------------


ORDER_SCHEMA = {
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            },
        },
        "a/b": {"type": "number"},
    },
}


def test_a_valid_schema_passes_the_save_check():
    validate_input_schema_config(ORDER_SCHEMA)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "objekt"}, "inputSchema/type: "),
        ({"properties": {"id": {"minLength": -1}}}, "inputSchema/properties/id/minLength: "),
        ({"required": "id"}, "inputSchema/required: "),
        ("not a schema", "inputSchema: must be a JSON object"),
        (
            {"properties": {"id": {"pattern": "^(?!tmp-)"}}},
            "inputSchema/properties/id/pattern: invalid regular expression: invalid perl operator",
        ),
        (
            {"items": {"patternProperties": {"^(a)\\1$": {}}}},
            "inputSchema/items/patternProperties/^(a)\\1$: invalid regular expression: ",
        ),
        (
            {"patternProperties": {"^x-": {}}, "allOf": [{"unevaluatedProperties": False}]},
            "inputSchema/allOf/0/unevaluatedProperties: cannot be combined with patternProperties "
            "(inputSchema/patternProperties)",
        ),
    ],
)
def test_an_invalid_schema_is_a_value_error_naming_where(schema, message):
    with pytest.raises(ValueError) as excinfo:
        validate_input_schema_config(schema)

    assert str(excinfo.value).startswith(message)


def test_data_that_looks_like_a_pattern_is_not_checked_as_one():
    validate_input_schema_config(
        {
            "properties": {"pattern": {"type": "string"}},
            "const": {"pattern": "(?=lookahead)"},
            "examples": [{"patternProperties": {"(a)\\1": 1}}],
        }
    )


def test_schema_patterns_take_linear_time_on_crafted_input():
    # On Python's re each of these three patterns would take about 2**40 steps on its input.
    schema = {
        "properties": {"name": {"pattern": "^(a+)+$"}},
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    crafted = {"name": "a" * 40 + "!", "x" * 40 + "!": "not checked by patternProperties"}

    with pytest.raises(UnprocessableEntity) as excinfo:
        validate_input(schema, crafted)

    assert excinfo.value.errors == [
        {
            "path": "",
            "message": f"Additional properties are not allowed ('{'x' * 40}!' was unexpected)",
        },
        {"path": "/name", "message": f"'{'a' * 40}!' does not match '^(a+)+$'"},
    ]


def test_pattern_properties_and_additional_properties_keep_their_meaning():
    schema = {
        "properties": {"id": {"type": "string"}},
        "patternProperties": {"^x-": {"type": "integer"}, "_at$": {"type": "string"}},
        "additionalProperties": {"type": "boolean"},
    }
    validate_input(schema, {"id": "a", "x-count": 2, "created_at": "now", "flag": True})

    with pytest.raises(UnprocessableEntity) as excinfo:
        validate_input(schema, {"x-count": "2", "x-created_at": 3, "flag": "yes"})

    assert excinfo.value.errors == [
        {"path": "/flag", "message": "'yes' is not of type 'boolean'"},
        {"path": "/x-count", "message": "'2' is not of type 'integer'"},
        {"path": "/x-created_at", "message": "3 is not of type 'string'"},
    ]


def test_valid_input_passes():
    validate_input(ORDER_SCHEMA, {"id": "o1", "items": [{"sku": "a", "qty": 2}]})


def test_no_schema_accepts_anything():
    validate_input(None, ["anything"])


def test_invalid_input_lists_every_failing_path_in_order():
    data = {
        "id": 7,
        "email": "not-an-email",
        "items": [{"sku": "a"}] * 2 + [{"qty": 0}] + [{"sku": "a"}] * 7 + [{"sku": 1}],
        "a/b": "x",
    }

    with pytest.raises(UnprocessableEntity) as excinfo:
        validate_input(ORDER_SCHEMA, data)

    error = excinfo.value
    assert error.status == 422
    assert error.code == "input_schema_mismatch"
    assert [e["path"] for e in error.errors] == [
        "/a~1b",
        "/email",
        "/id",
        "/items/2",
        "/items/2/qty",
        "/items/10/sku",
    ]
    assert error.errors[3]["message"] == "'sku' is a required property"
    assert "5 error(s)" not in error.detail and "6 error(s)" in error.detail


def test_a_missing_required_field_points_at_its_parent():
    with pytest.raises(UnprocessableEntity) as excinfo:
        validate_input(ORDER_SCHEMA, {"items": []})

    assert excinfo.value.errors == [{"path": "", "message": "'id' is a required property"}]


def test_errors_at_one_path_are_sorted_by_message():
    schema = {"type": "string", "minLength": 5, "pattern": "^[a-z]+$"}

    with pytest.raises(UnprocessableEntity) as excinfo:
        validate_input({"properties": {"x": schema}}, {"x": "AB"})

    messages = [e["message"] for e in excinfo.value.errors]
    assert len(messages) == 2
    assert messages == sorted(messages)


# --- idempotency -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Idempotency-Key": "k1", "webhook-id": "w1", "X-GitHub-Delivery": "g1"}, "k1"),
        ({"webhook-id": "w1", "X-GitHub-Delivery": "g1"}, "w1"),
        ({"x-github-delivery": "g1"}, "g1"),
        ({"Idempotency-Key": "  ", "Webhook-Id": "w1"}, "w1"),
        ({"X-Request-Id": "r1"}, None),
    ],
)
def test_the_default_tries_the_well_known_headers_in_order(headers, expected):
    assert extract_idempotency_key(None, headers, {"id": "body-id"}) == expected


def test_a_header_spec_reads_only_that_header():
    spec = {"source": "header", "key": "X-Delivery"}

    assert extract_idempotency_key(spec, {"x-delivery": " d-9 "}, None) == "d-9"
    assert extract_idempotency_key(spec, {"Idempotency-Key": "k1"}, None) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"data": {"object": {"id": "evt_1"}}}, "evt_1"),
        ({"data": {"object": {"id": 42}}}, "42"),
        ({"data": {"object": {"id": {"nested": 1}}}}, None),
        ({"data": {"object": {"id": True}}}, None),
        ({"data": {}}, None),
        ("plain text", None),
    ],
)
def test_a_body_spec_reads_a_jmespath_value(data, expected):
    spec = {"source": "body", "path": "data.object.id"}

    assert extract_idempotency_key(spec, {"Idempotency-Key": "ignored"}, data) == expected


def test_a_key_over_255_characters_is_a_bad_request():
    assert extract_idempotency_key(None, {"Idempotency-Key": "k" * 255}, None) == "k" * 255

    with pytest.raises(BadRequest) as excinfo:
        extract_idempotency_key(None, {"Idempotency-Key": "k" * 256}, None)

    assert excinfo.value.code == "invalid_idempotency_key"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Idempotency-Key", "idempotencyKey: must be an object"),
        ({"source": "cookie"}, "idempotencyKey.source: must be one of"),
        ({"source": "header"}, "idempotencyKey.key: a header name is required"),
        ({"source": "body", "path": ""}, "idempotencyKey.path: a JMESPath expression is required"),
        ({"source": "body", "path": "data.["}, "idempotencyKey.path: invalid JMESPath"),
    ],
)
def test_a_bad_idempotency_spec_is_a_value_error(spec, message):
    with pytest.raises(ValueError) as excinfo:
        validate_idempotency_spec(spec)

    assert str(excinfo.value).startswith(message)


def test_a_good_idempotency_spec_is_normalised():
    assert validate_idempotency_spec(None) is None
    assert validate_idempotency_spec({"source": "header", "key": " X-Id "}) == {
        "source": "header",
        "key": "X-Id",
    }


# --- output transform --------------------------------------------------------------------


EVENT = {
    "action": "opened",
    "pull_request": {"title": "Fix", "labels": [{"name": "bug"}, {"name": "ui"}]},
}


def test_a_transform_reshapes_the_payload():
    expression = "{action: action, title: pull_request.title, labels: pull_request.labels[].name}"

    assert apply_output_transform(expression, EVENT) == {
        "action": "opened",
        "title": "Fix",
        "labels": ["bug", "ui"],
    }


def test_a_compiled_transform_can_be_applied():
    compiled = compile_output_transform("pull_request.title")

    assert apply_output_transform(compiled, EVENT) == "Fix"


def test_a_missing_path_transforms_to_none():
    assert apply_output_transform("issue.title", EVENT) is None


@pytest.mark.parametrize("expression", ["pull_request.[", "foo ||", "", "   ", None])
def test_an_invalid_transform_is_a_value_error(expression):
    with pytest.raises(ValueError, match=r"^outputTransform: "):
        compile_output_transform(expression)


def test_a_transform_failing_on_this_payload_is_422():
    with pytest.raises(UnprocessableEntity) as excinfo:
        apply_output_transform(
            "length(pull_request.missing_number)", {"pull_request": {"missing_number": 3}}
        )

    assert excinfo.value.status == 422
    assert excinfo.value.code == "output_transform_failed"


# --- output transform: the management API's object ---------------------------------------


def test_the_jmespath_field_is_an_expression():
    transform = {"jmespath": "pull_request.labels[].name"}

    assert apply_output_transform(transform, EVENT) == ["bug", "ui"]


def test_object_transformation_builds_an_object_one_path_per_key():
    transform = {
        "objectTransformation": {
            "title": "pull_request.title",
            "first label": "pull_request.labels[0].name",
            "count": "length(pull_request.labels)",
            "missing": "pull_request.number",
        }
    }

    assert apply_output_transform(transform, EVENT) == {
        "title": "Fix",
        "first label": "bug",
        "count": 2,
        "missing": None,
    }


def test_jmespath_wins_over_object_transformation():
    transform = {"jmespath": "action", "objectTransformation": {"title": "pull_request.title"}}

    assert apply_output_transform(transform, EVENT) == "opened"


@pytest.mark.parametrize(
    "transform",
    [{}, {"jmespath": ""}, {"jmespath": None, "objectTransformation": {}}, {"jmespath": "  "}],
)
def test_an_object_with_nothing_in_it_is_no_transform(transform):
    assert compile_output_transform(transform) is None
    assert apply_output_transform(transform, EVENT) == EVENT


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        ({"jmespath": "a.["}, "outputTransform.jmespath: invalid JMESPath expression"),
        ({"jmespath": 5}, "outputTransform.jmespath: must be a string"),
        (
            {"objectTransformation": {"ok": "a", "bad": "b.["}},
            "outputTransform.objectTransformation.bad: invalid JMESPath expression",
        ),
        (
            {"objectTransformation": {"empty": ""}},
            "outputTransform.objectTransformation.empty: must be a non-empty",
        ),
        ({"objectTransformation": ["a"]}, "outputTransform.objectTransformation: must be an"),
        # A broken objectTransformation is refused even when jmespath would win.
        (
            {"jmespath": "a", "objectTransformation": {"x": "["}},
            "outputTransform.objectTransformation.x: invalid",
        ),
        ({"jmespth": "a"}, "outputTransform.jmespth: unknown field"),
    ],
)
def test_an_invalid_transform_object_is_refused_naming_the_field(transform, message):
    with pytest.raises(ValueError) as excinfo:
        compile_output_transform(transform)

    assert str(excinfo.value).startswith(message)


def test_an_object_transformation_failing_on_this_payload_is_422_naming_the_key():
    transform = compile_output_transform({"objectTransformation": {"n": "length(action_count)"}})

    with pytest.raises(UnprocessableEntity) as excinfo:
        apply_output_transform(transform, {"action_count": 3})

    assert excinfo.value.code == "output_transform_failed"
    assert "'n'" in excinfo.value.detail
