"""Pipeline step 8's ``outputTransform``: the execution's payload reshaped from the body.

Output transforms (``{"jmespath": …}``, ``{"objectTransformation": {key: path}}``) and body
idempotency paths are JMESPath expressions. JMESPath is a small, well-kept query language with
a formal spec (used by the AWS CLI and boto), and evaluating it cannot execute code, so a
trigger owner can reshape payloads without us running their code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jmespath.exceptions

from api import storable
from triggers import jmespath_bounded
from webhooks.errors import UnprocessableEntity
from webhooks.parsing import MAX_BODY_BYTES


@dataclass(frozen=True)
class OutputTransform:
    """A compiled ``outputTransform``: one JMESPath expression, or one per key of an object."""

    expression: jmespath_bounded.Expression | None = None
    fields: tuple[tuple[str, jmespath_bounded.Expression], ...] = ()

    def search(
        self, data: Any, *, max_bytes: int = MAX_BODY_BYTES, input_bytes: int | None = None
    ) -> Any:
        """``data`` reshaped; UnprocessableEntity (422) when an expression fails on it.

        Every expression of the transform shares one budget (triggers/jmespath_bounded.py):
        that of a body of ``input_bytes`` bytes, and no value it makes larger than
        ``max_bytes`` as JSON.
        """
        evaluation = jmespath_bounded.Evaluation(max_bytes=max_bytes, input_bytes=input_bytes)
        if self.expression is not None:
            return _search(evaluation, self.expression, data, "")
        return {
            key: _search(evaluation, compiled, data, f" (key {key!r})")
            for key, compiled in self.fields
        }


def _search(
    evaluation: jmespath_bounded.Evaluation,
    compiled: jmespath_bounded.Expression,
    data: Any,
    where: str,
) -> Any:
    try:
        return evaluation.search(compiled, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise UnprocessableEntity(
            f"Output transform failed on this payload{where}: {exc}",
            code="output_transform_failed",
        ) from exc


def compile_jmespath(expression: Any, path: str) -> jmespath_bounded.Expression:
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"{path}: must be a non-empty JMESPath expression")
    try:
        return jmespath_bounded.compile_expression(expression)
    except jmespath_bounded.ExpressionTooComplex as exc:
        raise ValueError(f"{path}: {exc}") from None
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"{path}: invalid JMESPath expression: {exc}") from None


def compile_output_transform(spec: Any) -> OutputTransform | None:
    """The compiled ``outputTransform`` (checked at save; ValueError naming the field).

    ``{"jmespath": "<expr>"}``: the payload is what the expression selects.
    ``{"objectTransformation": {"<key>": "<expr>", …}}``: the payload is an object with those
    keys, each the result of its own expression on the body (a missing path gives null).
    ``jmespath`` wins when both are given (both are still checked). A plain string is a
    JMESPath expression (the shape stored before). An object whose fields are all empty or
    absent is no transform: None.
    """
    if not isinstance(spec, dict):
        return OutputTransform(expression=compile_jmespath(spec, "outputTransform"))
    unknown = sorted(set(spec) - {"jmespath", "objectTransformation"})
    if unknown:
        raise ValueError(f"outputTransform.{unknown[0]}: unknown field")
    expression = spec.get("jmespath")
    if expression is not None and not isinstance(expression, str):
        raise ValueError("outputTransform.jmespath: must be a string")
    fields = spec.get("objectTransformation")
    if fields is not None and not isinstance(fields, dict):
        raise ValueError("outputTransform.objectTransformation: must be an object")
    compiled_fields = tuple(
        (key, compile_jmespath(path, f"outputTransform.objectTransformation.{key}"))
        for key, path in (fields or {}).items()
    )
    if expression and expression.strip():
        return OutputTransform(expression=compile_jmespath(expression, "outputTransform.jmespath"))
    if compiled_fields:
        return OutputTransform(fields=compiled_fields)
    return None


def apply_output_transform(
    transform: Any, data: Any, *, max_bytes: int = MAX_BODY_BYTES, input_bytes: int | None = None
) -> Any:
    """``data`` reshaped by ``transform``: an ``outputTransform`` setting (compiled here) or
    what compile_output_transform returned. No transform gives ``data`` itself.

    Raises UnprocessableEntity (422) when an expression fails on this payload, e.g. a function
    given the wrong type, or is stopped (OutputTransform.search: its budget is spent, or it
    makes a value larger than ``max_bytes``), or when its result cannot be stored
    (check_transformed); ValueError when the setting does not compile.
    """
    if not isinstance(transform, OutputTransform):
        transform = compile_output_transform(transform)
    if transform is None:
        return data
    payload = transform.search(data, max_bytes=max_bytes, input_bytes=input_bytes)
    check_transformed(payload, max_bytes=max_bytes)
    return payload


def check_transformed(payload: Any, *, max_bytes: int) -> None:
    """UnprocessableEntity (422 ``output_transform_failed``) when the transformed payload
    cannot be stored or is larger than ``max_bytes`` as JSON: a transform may reshape a
    delivery, not multiply it (``{"a": "@", "b": "@", …}``) or make numbers it cannot hold."""
    problem = storable.json_problem(payload, max_bytes=max_bytes)
    if problem is not None:
        raise UnprocessableEntity(
            f"Output transform result cannot be stored: {problem}.",
            code="output_transform_failed",
        )
