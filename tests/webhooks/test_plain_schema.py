"""A plain input schema's quick check says yes exactly where jsonschema finds no error, and
only its yes is taken: every refusal is still jsonschema's (webhooks/plain_schema.py)."""

import random

import pytest

from triggers import budgets
from triggers.budgets import Budget, BudgetExceeded, Meter, budget_for, one_budget
from webhooks.errors import UnprocessableEntity
from webhooks.input_schema import compile_input_schema, validate_input

NAMES = ("a", "b", "c")
STRINGS = ("", "a", "b", "ab", "abc")
SCALARS = (None, True, False, 0, 1, -2, 3, 1.0, 2.0, 1.5, -0.5, 10**20, *STRINGS)
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
DIALECTS = (
    None,
    "http://json-schema.org/draft-06/schema#",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft/2019-09/schema",
    "https://json-schema.org/draft/2020-12/schema",
)


def plain_schema(rng: random.Random, depth: int) -> dict | bool:
    """A random schema of the keywords the quick check reads, up to ``depth`` levels."""
    if rng.random() < 0.08:
        return rng.random() < 0.7  # true or false
    schema: dict = {}
    if rng.random() < 0.7:
        types = rng.sample(TYPES, rng.choice((1, 1, 1, 2)))
        schema["type"] = types[0] if len(types) == 1 else types
    if depth and rng.random() < 0.6:
        names = rng.sample(NAMES, rng.randint(1, 3))
        schema["properties"] = {name: plain_schema(rng, depth - 1) for name in names}
    if rng.random() < 0.4:
        schema["required"] = rng.sample(NAMES, rng.randint(1, 2))
    if rng.random() < 0.25:
        schema["additionalProperties"] = rng.choice(
            (True, False, plain_schema(rng, depth - 1) if depth else True)
        )
    if depth and rng.random() < 0.3:
        schema["items"] = plain_schema(rng, depth - 1)
    if rng.random() < 0.15:
        schema["enum"] = rng.sample(STRINGS, rng.randint(1, 3))
    if rng.random() < 0.08:
        schema["const"] = rng.choice(STRINGS)
    for keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        if rng.random() < 0.12:
            schema[keyword] = rng.randint(0, 3)
    for keyword in ("minimum", "maximum"):
        if rng.random() < 0.12:
            schema[keyword] = rng.choice((-1, 0, 1, 2, 1.5))
    if rng.random() < 0.1:
        schema["title"] = "annotated"
        schema["description"] = "never fails a value"
    return schema


def value_for(schema, rng: random.Random, depth: int):
    """A value that mostly follows ``schema``'s shape, so both answers come up often."""
    if depth == 0 or not isinstance(schema, dict) or rng.random() < 0.25:
        if depth and rng.random() < 0.3:
            return rng.choice(([value_for(True, rng, depth - 1)], {rng.choice(NAMES): 1}))
        return rng.choice(SCALARS)
    if "enum" in schema and rng.random() < 0.5:
        return rng.choice(schema["enum"])
    if "properties" in schema or "required" in schema:
        properties = schema.get("properties", {})
        names = [n for n in NAMES if rng.random() < 0.7]
        return {n: value_for(properties.get(n, True), rng, depth - 1) for n in names}
    if "items" in schema:
        return [value_for(schema["items"], rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(SCALARS)


def jsonschema_errors(compiled, value) -> list:
    return list(compiled.validator.iter_errors(value))


def test_on_generated_schemas_and_values_the_quick_yes_is_exactly_jsonschemas():
    rng = random.Random(20261208)
    said = {True: 0, False: 0}
    for _ in range(500):
        schema = plain_schema(rng, depth=3)
        if isinstance(schema, bool):
            schema = {"items": schema}
        if dialect := rng.choice(DIALECTS):
            schema = {"$schema": dialect, **schema}
        compiled = compile_input_schema(schema)
        assert compiled.accepts is not None, schema
        for _ in range(12):
            value = value_for(schema, rng, depth=4)
            accepted = compiled.accepts(value, Meter(budget_for(1000)))
            assert accepted == (not jsonschema_errors(compiled, value)), (schema, value)
            said[accepted] += 1
    assert min(said.values()) > 1000, said  # both answers, many times each


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}},
        {"anyOf": [{"type": "string"}]},
        {"properties": {"a": {"pattern": "^x"}}},
        {"format": "email"},
        {"enum": [1, "a"]},  # 1 == 1.0 and true != 1 as JSON Schema compares
        {"const": 1},
        {"items": [{"type": "string"}], "$schema": "http://json-schema.org/draft-07/schema#"},
        {"prefixItems": [{"type": "string"}]},
        {"type": "integer", "$schema": "http://json-schema.org/draft-04/schema#"},
        {"properties": {"a": {"$id": "https://example.test/a", "type": "string"}}},
        {"exclusiveMinimum": 1},
        {"x-own-keyword": 1},  # unknown to this module: jsonschema alone
    ],
)
def test_a_schema_that_is_not_plain_has_no_quick_check(schema):
    assert compile_input_schema(schema).accepts is None


def test_a_refused_body_gets_jsonschemas_errors():
    schema = compile_input_schema(
        {
            "type": "object",
            "required": ["action"],
            "properties": {"issue": {"properties": {"number": {"type": "integer"}}}},
        }
    )

    with pytest.raises(UnprocessableEntity) as refused:
        validate_input(schema, {"issue": {"number": "7"}})

    assert refused.value.code == "input_schema_mismatch"
    assert refused.value.errors == [
        {"path": "", "message": "'action' is a required property"},
        {"path": "/issue/number", "message": "'7' is not of type 'integer'"},
    ]


def test_the_steps_of_a_quick_check_that_was_not_sure_are_given_back(monkeypatch):
    # Each check alone takes some 60,000 of the 100,000 steps; both, without the give-back,
    # would refuse a sound schema as too costly instead of naming the one wrong item. (The
    # clock, the budget's safety net, is not what this is about: made generous.)
    monkeypatch.setattr(budgets, "BASE_SECONDS", 60.0)
    schema = compile_input_schema({"items": {"type": "string"}})
    body = ["a"] * 60_000 + [1]

    with one_budget(0), pytest.raises(UnprocessableEntity) as refused:
        validate_input(schema, body)

    assert refused.value.code == "input_schema_mismatch"
    assert refused.value.errors == [{"path": "/60000", "message": "1 is not of type 'string'"}]


def test_a_quick_check_is_metered_while_it_runs():
    meter = Meter(Budget(steps=1_000, seconds=60.0, memory=1 << 20))
    accepts = compile_input_schema({"items": {"type": "string"}}).accepts

    assert accepts(["a"] * 500, meter)
    assert meter.steps == 501
    lenient = compile_input_schema({"items": {"additionalProperties": True}}).accepts
    assert lenient([{}] * 400, meter)  # a keyword that checks nothing costs its step
    assert meter.steps == 902
    with pytest.raises(BudgetExceeded, match="took more than 1,000 steps"):
        accepts(["a"] * 1_000, meter)
