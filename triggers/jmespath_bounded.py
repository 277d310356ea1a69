"""JMESPath, bounded: expressions a trigger's owner writes, evaluated on what a sender sends.

The ``jmespath`` library puts no bound on either side. Its parser recurses once per nesting
level (``!!!…a``, ``a[*].b[*]…``, a deep JSON literal) and its interpreter once per level of
the tree, which a long ``a || a || …`` makes as deep as it is long: RecursionError. And an
expression may multiply its input: ``[@,@]`` doubles what ``to_string`` or storing would
write, so ``"@" + " | [@,@] | to_string(@)" * 13`` turns a 10 KB body into gigabytes. So:

- ``compile_expression`` refuses (ExpressionTooComplex) an expression longer than
  MAX_EXPRESSION_LENGTH characters or nested deeper than MAX_EXPRESSION_DEPTH levels, measured
  while parsing and on the tree, so neither parsing nor evaluating recurses far;
- ``Evaluation`` runs expressions on one input under one budget (triggers/budgets.py: steps,
  a deadline, memory made), and stops (ExpressionTooCostly) as soon as a value it makes — a
  list, an object, a string — would be larger than ``max_bytes`` as JSON, measured as
  api/storable.py measures (a part that appears twice counts twice, as it would be written).
  Lists and objects are measured while they are built, ``join`` before it runs, so nothing
  much larger than ``max_bytes`` is ever made.

Both errors are ``jmespath.exceptions.JMESPathError``: every caller that handled a bad
expression or a failed search handles these the same way. Python errors the library lets
through on odd input (``ceil`` of infinity, ``max_by`` over numbers and strings, ``<``
between a string and a number) become a JMESPathError too, or null where the specification
says so. Pure, no database.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jmespath import functions, parser, visitor
from jmespath.exceptions import JMESPathError

from triggers.budgets import BudgetExceeded, Meter, meter_for

MAX_EXPRESSION_LENGTH = 4096
MAX_EXPRESSION_DEPTH = 64
DEFAULT_MAX_BYTES = 1024 * 1024

_MEMO_ENTRY_BYTES = 120  # what remembering one value's size costs, roughly
_C_WORK_PER_STEP = 16  # elements compared or written by C code per step charged
# Functions whose result is a new value (the others return an argument or a part of one).
_MAKERS = frozenset(
    {"to_string", "join", "reverse", "sort", "sort_by", "keys", "values", "merge", "map",
     "to_array"}
)  # fmt: skip


class ExpressionTooComplex(JMESPathError):
    """Refused when compiled: too long, or nested too deeply."""


class ExpressionTooCostly(JMESPathError):
    """Stopped while evaluated: its budget is spent, or a value it makes is too large."""


class Expression:
    """A compiled expression; evaluate it with ``Evaluation.search`` (or ``search``)."""

    __slots__ = ("text", "tree")

    def __init__(self, text: str, tree: dict):
        self.text = text
        self.tree = tree

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def search(self, value: Any, **limits: Any) -> Any:
        """This expression on ``value`` under its own budget (``Evaluation``'s ``limits``)."""
        return Evaluation(**limits).search(self, value)


class _Parser(parser.Parser):
    """jmespath's parser with a limit on how deeply it recurses."""

    _CACHE: dict = {}  # its own: the library's may hold trees parsed without a limit
    _MAX_SIZE = 64

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def _expression(self, binding_power=0):
        self._depth += 1
        try:
            if self._depth > MAX_EXPRESSION_DEPTH:
                raise ExpressionTooComplex(
                    f"the expression nests deeper than {MAX_EXPRESSION_DEPTH} levels"
                )
            return super()._expression(binding_power)
        finally:
            self._depth -= 1


def compile_expression(text: str) -> Expression:
    """``text`` compiled; JMESPathError when it does not parse, ExpressionTooComplex when it
    is longer than MAX_EXPRESSION_LENGTH characters or nests deeper than
    MAX_EXPRESSION_DEPTH levels."""
    if not isinstance(text, str):
        raise JMESPathError("an expression must be a string")
    return _compiled(text)


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Expression:
    """``compile_expression`` once per text and process: the firing path compiles a
    trigger's filter, concurrency key or debounce key for every delivery. A tree is only read
    when evaluated, so one compiled expression serves every caller; a refusal is not
    cached (it raises)."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionTooComplex(
            f"the expression is {len(text):,} characters long; at most {MAX_EXPRESSION_LENGTH:,}"
        )
    try:
        tree = _Parser().parse(text).parsed
    except RecursionError:  # a deep JSON literal: the library's lexer parses it with json
        raise ExpressionTooComplex("the expression nests too deeply") from None
    if any(_value_depth(value) > MAX_EXPRESSION_DEPTH for value in _literals(tree)):
        # Python 3.11's json gives up on such a literal (above); 3.12's and later's parse it.
        raise ExpressionTooComplex("the expression nests too deeply")
    depth = _tree_depth(tree)
    if depth > MAX_EXPRESSION_DEPTH:
        raise ExpressionTooComplex(
            f"the expression nests {depth:,} levels deep; at most {MAX_EXPRESSION_DEPTH}"
        )
    return Expression(text, tree)


def _literals(tree: dict):
    """The values of the tree's JSON literals (`` `[1, 2]` ``)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("type") == "literal":
            yield node.get("value")
        stack.extend(child for child in node.get("children", ()) if isinstance(child, dict))


def _value_depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _tree_depth(tree: dict) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend(
            (child, depth + 1) for child in node.get("children", ()) if isinstance(child, dict)
        )
    return deepest


class Evaluation:
    """Expressions evaluated on one input under one budget: ``budget_for(input_bytes)``
    (``max_bytes`` when the input's size is not known), each value made at most ``max_bytes``
    as JSON. Raises ExpressionTooCostly when either is passed."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, input_bytes: int | None = None):
        self.max_bytes = max_bytes
        self.meter = meter_for(max_bytes if input_bytes is None else input_bytes)
        self._interpreter = _Interpreter(self.meter, max_bytes)

    def search(self, expression: Expression, value: Any) -> Any:
        try:
            return self._interpreter.visit(expression.tree, value)
        except BudgetExceeded as exceeded:
            raise ExpressionTooCostly(f"the expression {exceeded}") from None
        except RecursionError:  # not reached: compile_expression bounds the depth
            raise ExpressionTooCostly("the expression nests too deeply") from None


def search(expression: Expression | str, value: Any, **limits: Any) -> Any:
    """``expression`` (compiled here when it is text) on ``value``; see ``Evaluation``."""
    if isinstance(expression, str):
        expression = compile_expression(expression)
    return Evaluation(**limits).search(expression, value)


def _scalar_size(value: Any) -> int:
    # As api.storable.json_problem counts: quotes or a separator included.
    if isinstance(value, str):
        return len(value) + 3
    if isinstance(value, bool) or value is None:
        return 6
    if isinstance(value, int):
        return len(str(value)) + 1
    if isinstance(value, float):
        return len(repr(value)) + 1
    return 8  # an expression reference (&foo)


class _Interpreter(visitor.TreeInterpreter):
    """The library's interpreter, charging every node to the meter and measuring every list,
    object and string it makes (``_sizes`` remembers the size of each container measured,
    holding it so that its id is not reused)."""

    def __init__(self, meter: Meter, max_bytes: int):
        super().__init__(visitor.Options(custom_functions=_Functions(self)))
        self.meter = meter
        self.max_bytes = max_bytes
        self._sizes: dict[int, tuple[Any, int]] = {}

    # -- measuring -----------------------------------------------------------------------------

    def size(self, value: Any) -> int:
        """``value``'s size as JSON; more than max_bytes is reported as max_bytes + 1."""
        if not isinstance(value, list | dict):
            return _scalar_size(value)
        known = self._sizes.get(id(value))
        if known is not None:
            return known[1]
        total, stack, limit = 0, [value], self.max_bytes
        while stack:
            node = stack.pop()
            self.meter.charge()
            if isinstance(node, list | dict):
                known = self._sizes.get(id(node))
                if known is not None:
                    total += known[1]
                elif isinstance(node, dict):
                    total += 2 + sum(len(str(key)) + 3 for key in node)
                    stack.extend(node.values())
                else:
                    total += 2
                    stack.extend(node)
            else:
                total += _scalar_size(node)
            if total > limit:
                return limit + 1
        self._remember(value, total)
        return total

    def _remember(self, value: Any, size: int) -> None:
        self._sizes[id(value)] = (value, size)
        self.meter.allocate(_MEMO_ENTRY_BYTES)

    def too_large(self) -> ExpressionTooCostly:
        return ExpressionTooCostly(
            f"the expression made a value larger than {self.max_bytes:,} bytes as JSON"
        )

    def grown(self, size: int, added: int) -> int:
        size += added
        if size > self.max_bytes:
            raise self.too_large()
        return size

    def made(self, value: Any, size: int | None = None) -> Any:
        """``value``, new: measured (unless ``size`` is known), remembered and counted."""
        if size is None:
            size = self.size(value)
        if size > self.max_bytes:
            raise self.too_large()
        if isinstance(value, list | dict):
            self._remember(value, size)
        self.meter.allocate(sys.getsizeof(value))
        return value

    def made_list(self, items: Iterable[Any], *, skip_none: bool = False) -> list:
        collected: list = []
        size = 2
        for item in items:
            self.meter.charge()
            if skip_none and item is None:
                continue
            size = self.grown(size, self.size(item))
            collected.append(item)
        return self.made(collected, size)

    # -- the library's visits, bounded -----------------------------------------------------------

    def visit(self, node, *args, **kwargs):
        self.meter.charge()
        return super().visit(node, *args, **kwargs)

    def visit_comparator(self, node, value):
        if node["value"] in self._EQUALITY_OPS:
            left = self.visit(node["children"][0], value)
            right = self.visit(node["children"][1], value)
            if isinstance(left, list | dict) and isinstance(right, list | dict):
                self.meter.charge(min(self.size(left), self.size(right)) // _C_WORK_PER_STEP)
            equal = visitor._equals(left, right)
            return equal if node["value"] == "eq" else not equal
        try:
            return super().visit_comparator(node, value)
        except TypeError:  # a string against a number: null, as the specification says
            return None

    def visit_filter_projection(self, node, value):
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        condition, projected = node["children"][2], node["children"][1]
        return self.made_list(
            (
                self.visit(projected, element)
                for element in base
                if self._is_true(self.visit(condition, element))
            ),
            skip_none=True,
        )

    def visit_flatten(self, node, value):
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        return self.made_list(
            item
            for element in base
            for item in (element if isinstance(element, list) else (element,))
        )

    def visit_slice(self, node, value):
        try:
            sliced = super().visit_slice(node, value)
        except ValueError as error:  # a step of 0
            raise JMESPathError(f"invalid slice: {error}") from None
        return None if sliced is None else self.made(sliced)

    def visit_multi_select_dict(self, node, value):
        if value is None:
            return None
        collected = self._dict_cls()
        size = 2
        for child in node["children"]:
            item = self.visit(child, value)
            size = self.grown(size, len(child["value"]) + 3 + self.size(item))
            collected[child["value"]] = item
        return self.made(collected, size)

    def visit_multi_select_list(self, node, value):
        if value is None:
            return None
        return self.made_list(self.visit(child, value) for child in node["children"])

    def visit_projection(self, node, value):
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        projected = node["children"][1]
        return self.made_list((self.visit(projected, e) for e in base), skip_none=True)

    def visit_value_projection(self, node, value):
        base = self.visit(node["children"][0], value)
        if not isinstance(base, dict):
            return None
        projected = node["children"][1]
        return self.made_list((self.visit(projected, e) for e in base.values()), skip_none=True)


class _Functions(functions.Functions):
    """The built-in functions, charged by the work their arguments cause and with their new
    results measured; ``join`` is measured before it runs."""

    def __init__(self, interpreter: _Interpreter):
        self._interpreter = interpreter

    def call_function(self, function_name, resolved_args):
        interpreter = self._interpreter
        work = sum(len(arg) for arg in resolved_args if isinstance(arg, list | dict | str))
        if function_name in ("to_string", "contains") and resolved_args:
            work += interpreter.size(resolved_args[0])
        interpreter.meter.charge(1 + work // _C_WORK_PER_STEP)
        if function_name == "join" and len(resolved_args) == 2:
            _check_join(interpreter, *resolved_args)
        try:
            result = super().call_function(function_name, resolved_args)
        except JMESPathError:
            raise
        except (ArithmeticError, TypeError, ValueError) as error:  # ceil(inf), mixed max_by
            raise JMESPathError(f"{function_name}() failed: {error}") from None
        if function_name not in _MAKERS or any(result is arg for arg in resolved_args):
            return result
        return interpreter.made(result)


def _check_join(interpreter: _Interpreter, separator: Any, items: Any) -> None:
    if not isinstance(separator, str) or not isinstance(items, list):
        return  # the library refuses the types
    if not all(isinstance(item, str) for item in items):
        return
    size = 3 + sum(len(item) for item in items) + len(separator) * max(len(items) - 1, 0)
    if size > interpreter.max_bytes:
        raise interpreter.too_large()
