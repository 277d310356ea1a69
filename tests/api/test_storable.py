"""Storable JSON (issue 19, "Storable JSON everywhere"): one function decides what PostgreSQL
can keep, and parsing measures depth before it could recurse."""

import json
import sys

import pytest

from api.storable import (
    MAX_JSON_DEPTH,
    JSONProblem,
    UnstorableJSON,
    json_problem,
    loads,
    storable_text,
)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("text", "pointer", "reason"),
    [
        ('{"a": "x\\u0000y"}', "/a", "NUL"),
        ('{"a": {"b": ["\\ud800"]}}', "/a/b/0", "lone surrogate (U+D800)"),
        ('{"a": ["\\udfff tail"]}', "/a/0", "lone surrogate (U+DFFF)"),
        ('{"n": 1e999}', "/n", "not finite"),
        ('{"n": -1e999}', "/n", "not finite"),
        ('{"n": ' + "9" * 400 + ".5}", "/n", "not finite"),
        ('{"k\\u0000": 1}', "", "a key contains the NUL"),
        ('{"deep": ' + nested(MAX_JSON_DEPTH + 1) + "}", "/deep", "deeper than 100"),
        (nested(10_000), "", "deeper than 100"),
        ('{"a": 1, "deep": ' + nested(50_000) + "}", "/deep", "deeper than 100"),
    ],
)
def test_loads_refuses_what_postgresql_cannot_store_naming_where(text, pointer, reason):
    with pytest.raises(UnstorableJSON) as refused:
        loads(text)

    assert refused.value.problem.pointer == pointer
    assert reason in refused.value.problem.reason


def test_ten_thousand_levels_never_reach_a_recursion_error():
    limit = sys.getrecursionlimit()
    for depth in (MAX_JSON_DEPTH + 1, limit, limit * 10):
        with pytest.raises(UnstorableJSON):
            loads(nested(depth).encode())
    with pytest.raises(ValueError):
        loads(nested(10_000)[:-1])  # unbalanced and deep: refused either way, never recursing


@pytest.mark.parametrize(
    "text",
    [
        nested(MAX_JSON_DEPTH),  # exactly as deep as allowed
        '{"emoji": "\\ud83d\\ude00", "n": 1e308, "big": ' + "9" * 300 + "}",
        '{"s": "[[[[[[ not brackets ]]]]]]' + "[" * 500 + '"}',  # brackets inside a string
        '{"e": 1.5e-300}',
    ],
)
def test_loads_keeps_what_can_be_stored(text):
    assert loads(text) == json.loads(text)


def test_nan_and_infinity_are_not_json():
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}'):
        with pytest.raises(ValueError, match="not valid JSON") as refused:
            loads(text)
        assert not isinstance(refused.value, UnstorableJSON)


def test_json_problem_walks_parsed_values_without_recursion():
    value: list = []
    for _ in range(5_000):
        value = [value]

    assert "deeper" in json_problem(value).reason
    assert json_problem({"x": float("inf")}) == JSONProblem(
        "/x", json_problem([float("nan")]).reason
    )
    assert json_problem({"a/b": {"~": "\x00"}}).pointer == "/a~1b/~0"
    assert json_problem({"fine": [1, 2.5, "text", None, True]}) is None


def test_a_size_budget_stops_the_walk_early_on_a_repeated_part():
    part = {"text": "x" * 1000}
    repeated = {str(i): part for i in range(10_000)}  # 10 MB as JSON, one part in memory

    problem = json_problem(repeated, max_bytes=64 * 1024)

    assert problem is not None and "larger than 65536 bytes" in problem.reason
    exact = json.dumps(part, separators=(",", ":"))
    assert json_problem(part, max_bytes=len(exact) + 4) is None


def test_a_problem_names_the_top_level_field_it_is_in():
    problem = JSONProblem("/custom_task/a~1b/0", "r")

    assert problem.field() == ("custom_task", JSONProblem("/a~1b/0", "r"))
    assert JSONProblem("", "r").field() == (None, JSONProblem("", "r"))


def test_text_the_service_writes_itself_is_made_storable():
    assert storable_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert storable_text("plain ✓") == "plain ✓"
