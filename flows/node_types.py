"""The node-type registry: every node type, its metadata (GET /api/node-types is generated
from it), its parameter validation and what it requires, in one module.

A node may be stored incomplete (a flow editor creates it when it is dropped on the canvas):
``clean`` checks only the parameters that are given; ``issues`` says what is still missing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INTENT_TEXT_MAX = 500
RETURN_TEXT_MAX = 10000
REQUIRED_MESSAGE = "is required"


class ParameterError(ValueError):
    """Parameters a node type refuses; the message names the parameter."""


@dataclass(frozen=True)
class Category:
    id: str
    display_name: str
    order: int


@dataclass(frozen=True)
class NodeType:
    name: str
    display_name: str
    description: str
    icon: str
    category: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # (parameters) -> cleaned parameters; raises ParameterError. Rules that need the
    # database (CallFlow's target flow, call cycles) are in flows/services.py.
    clean: Callable[[dict[str, Any]], dict[str, Any]]
    # Parameters the node needs before its flow may be switched on; absent ones are issues.
    required: tuple[str, ...] = ()

    @property
    def is_trigger(self) -> bool:
        return self.category == "trigger"

    def issues(self, parameters: dict[str, Any]) -> list[dict[str, str]]:
        """What a node of this type still lacks: ``[{"field", "message"}]``, [] when complete."""
        if not isinstance(parameters, dict):  # the admin edits the raw JSON
            parameters = {}
        return [
            {"field": f"parameters.{key}", "message": REQUIRED_MESSAGE}
            for key in self.required
            if parameters.get(key) is None
        ]


def _only(parameters: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(parameters) - allowed)
    if unknown:
        raise ParameterError(f"parameters.{unknown[0]}: unknown parameter")


def _text(parameters: dict[str, Any], key: str, maximum: int) -> None:
    value = parameters.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        raise ParameterError(f"parameters.{key}: must be a string")
    if len(value) > maximum:
        raise ParameterError(f"parameters.{key}: must be at most {maximum} characters")


def _clean_user_intent(parameters: dict[str, Any]) -> dict[str, Any]:
    _only(parameters, {"whenToUse", "whenNotToUse"})
    for key in ("whenToUse", "whenNotToUse"):
        _text(parameters, key, INTENT_TEXT_MAX)
    return {k: v for k, v in parameters.items() if v is not None}


def _clean_interface(parameters: dict[str, Any]) -> dict[str, Any]:
    return parameters  # layout template and data are the frontend's; any object is kept


def _clean_call_flow(parameters: dict[str, Any]) -> dict[str, Any]:
    _only(parameters, {"flowId", "input"})
    _text(parameters, "flowId", 64)
    # A null flowId is one not chosen yet (an editor clearing the field), not a value.
    return {k: v for k, v in parameters.items() if not (k == "flowId" and v is None)}


def _clean_return(parameters: dict[str, Any]) -> dict[str, Any]:
    _only(parameters, {"value"})
    _text(parameters, "value", RETURN_TEXT_MAX)
    return parameters


CATEGORIES = (
    Category("trigger", "Triggers", 1),
    Category("interface", "Agentic Interfaces", 2),
    Category("action", "Actions", 3),
    Category("return", "Return Values", 4),
)

NODE_TYPES = (
    NodeType(
        "UserIntent", "User Intent",
        "Defines when the AI should trigger this flow based on user intent",
        "zap", "trigger", (), ("main",), _clean_user_intent,
    ),
    NodeType(
        "Interface", "Agentic Interface",
        "Display a UI interface with data in a layout template. Supports user actions.",
        "layout-template", "interface", ("main",),
        ("action:submit", "action:click", "action:select"), _clean_interface,
    ),
    NodeType(
        "CallFlow", "Call Flow", "Invoke another flow and pass its result to connected nodes.",
        "git-branch", "action", ("main",), ("main",), _clean_call_flow, required=("flowId",),
    ),
    NodeType(
        "Return", "Return Value",
        "Return a text value as the flow output. Terminates the current flow execution.",
        "corner-down-left", "return", ("main",), (), _clean_return,
    ),
)  # fmt: skip

REGISTRY = {node_type.name: node_type for node_type in NODE_TYPES}
CATEGORY_IDS = tuple(category.id for category in CATEGORIES)
NODE_TYPE_NAMES = tuple(REGISTRY)


def node_type_get(name: str) -> NodeType:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"type: '{name}' is not a node type; choose one of {', '.join(NODE_TYPE_NAMES)}"
        ) from None


def catalog() -> dict[str, list[dict[str, Any]]]:
    """The body of GET /api/node-types."""
    return {
        "nodeTypes": [
            {
                "name": t.name,
                "displayName": t.display_name,
                "description": t.description,
                "icon": t.icon,
                "category": t.category,
                "inputs": list(t.inputs),
                "outputs": list(t.outputs),
            }
            for t in NODE_TYPES
        ],
        "categories": [
            {"id": c.id, "displayName": c.display_name, "order": c.order} for c in CATEGORIES
        ],
    }
