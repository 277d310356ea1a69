"""Every change to a flow, its nodes and connections, and the user-intent migration."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from accounts.models import Project, Tenant
from flows.models import Connection, Flow, Node
from flows.node_types import ParameterError, node_type_get
from flows.parameters import clean_flow_parameters

_FLOW_FIELDS = {"name", "description", "tool_name", "tool_description", "is_active", "parameters"}
# Where the migration puts the intent node: this far left of the flow's first node.
INTENT_NODE_OFFSET_X = 250


_TOOL_NAME_TAKEN = {"tool_name": "A flow of this app already has this toolName."}


def _check_tool_name_free(flow: Flow) -> None:
    taken = Flow.objects.filter(app_id=flow.app_id, tool_name=flow.tool_name).exclude(pk=flow.pk)
    if taken.exists():
        raise ValidationError(_TOOL_NAME_TAKEN)


def _save(instance, **unique_messages) -> None:
    """full_clean (field rules, unique constraints) then save; ValidationError on failure."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:  # a concurrent writer won the unique constraint
        raise ValidationError(unique_messages or {"__all__": str(error)}) from None


# -- flows -------------------------------------------------------------------------------


def flow_create(*, tenant: Tenant, app: Project, **fields) -> Flow:
    if app.tenant_id != tenant.pk:
        raise ValidationError({"app": "Unknown app."})
    unknown = set(fields) - _FLOW_FIELDS
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Unknown field."})
    fields["parameters"] = clean_flow_parameters(fields.get("parameters", []))
    flow = Flow(tenant=tenant, app=app, **fields)
    _check_tool_name_free(flow)
    _save(flow, **_TOOL_NAME_TAKEN)
    return flow


@transaction.atomic
def flow_update(*, flow: Flow, **fields) -> Flow:
    """Change a flow's fields. Asking for ``is_active=True`` is refused while a node is
    incomplete (even when the flow is on already): the error names each node and field."""
    unknown = set(fields) - _FLOW_FIELDS
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Cannot be changed."})
    if "parameters" in fields:
        fields["parameters"] = clean_flow_parameters(fields["parameters"])
    if fields.get("is_active") is True:
        _check_complete(flow)
    for name, value in fields.items():
        setattr(flow, name, value)
    _check_tool_name_free(flow)
    _save(flow, **_TOOL_NAME_TAKEN)
    return flow


def flow_delete(*, flow: Flow) -> None:
    flow.delete()


def _check_complete(flow: Flow) -> None:
    """Every node of ``flow`` has what its type requires (flows/node_types.py)."""
    missing = {
        f"nodes[{node.pk}].{issue['field']}": issue["message"]
        for node in flow.nodes.order_by("created_at", "id")
        for issue in node_type_get(node.type).issues(node.parameters)
    }
    if missing:
        raise ValidationError(missing)


# -- nodes -------------------------------------------------------------------------------


def _clean_parameters(flow: Flow, type_name: str, parameters: Any) -> dict[str, Any]:
    """The parameters that are given, checked; missing required ones are not an error here
    (a node may be incomplete) but issues of the node (``NodeType.issues``)."""
    if not isinstance(parameters, dict):
        raise ValidationError({"parameters": "Must be an object."})
    try:
        node_type = node_type_get(type_name)
        cleaned = node_type.clean(parameters)
    except ParameterError as error:
        key, _, message = str(error).partition(": ")
        raise ValidationError({key: message or str(error)}) from None
    if type_name == "CallFlow" and "flowId" in cleaned:
        cleaned["flowId"] = _check_call_target(flow, cleaned["flowId"])
    return cleaned


def _check_call_target(flow: Flow, target_id: str) -> str:
    """The called flow's id as the flow shows it (``urn:uuid:…``, braces, upper case or no
    hyphens are the same uuid: stored as the one form a client compares with a flow's id);
    ValidationError unless it exists in the same tenant and calling it creates no cycle."""
    try:
        target_pk = uuid.UUID(str(target_id))
    except ValueError:
        raise ValidationError({"parameters.flowId": "Must be a flow id."}) from None
    if not Flow.objects.filter(pk=target_pk, tenant_id=flow.tenant_id).exists():
        raise ValidationError({"parameters.flowId": "Unknown flow."})
    if target_pk == flow.pk or flow.pk in _flows_called_from(target_pk, flow.tenant_id):
        raise ValidationError({"parameters.flowId": "Calling this flow would create a cycle."})
    return str(target_pk)


def _flows_called_from(start: uuid.UUID, tenant_id: str) -> set[uuid.UUID]:
    """Every flow reachable from ``start`` through CallFlow nodes (breadth first)."""
    seen: set[uuid.UUID] = set()
    frontier = {start}
    while frontier:
        calls = Node.objects.filter(
            flow_id__in=frontier, flow__tenant_id=tenant_id, type="CallFlow"
        ).values_list("parameters", flat=True)
        called = set()
        for parameters in calls:
            try:
                called.add(uuid.UUID(str(parameters.get("flowId"))))
            except (ValueError, AttributeError):
                continue
        frontier = called - seen
        seen |= called
    return seen


@transaction.atomic
def node_create(
    *, flow: Flow, type: str, name: str, position: dict | None = None, parameters=None
) -> Node:
    # Locking the flow serialises graph changes, so two CallFlow edits cannot race a cycle in.
    flow = Flow.objects.select_for_update().get(pk=flow.pk)
    position = position or {}
    node = Node(
        flow=flow,
        type=type,
        name=name,
        position_x=position.get("x", 0),
        position_y=position.get("y", 0),
        parameters=_clean_parameters(flow, type, parameters if parameters is not None else {}),
    )
    _save(node)
    return node


@transaction.atomic
def node_update(
    *, node: Node, name: str | None = None, position: dict | None = None, parameters=None
) -> Node:
    flow = Flow.objects.select_for_update().get(pk=node.flow_id)
    if name is not None:
        node.name = name
    if position is not None:
        node.position_x = position.get("x", node.position_x)
        node.position_y = position.get("y", node.position_y)
    if parameters is not None:
        node.parameters = _clean_parameters(flow, node.type, parameters)
    _save(node)
    return node


def node_delete(*, node: Node) -> None:
    node.delete()  # its connections go with it (CASCADE)


# -- connections -------------------------------------------------------------------------

TRIGGER_TARGET_MESSAGE = (
    "Cannot create connection to trigger node. Trigger nodes do not accept incoming connections."
)


@transaction.atomic
def connection_create(
    *,
    flow: Flow,
    source_id: uuid.UUID,
    target_id: uuid.UUID,
    source_handle: str = "main",
    target_handle: str = "main",
) -> Connection:
    nodes = {n.pk: n for n in Node.objects.filter(flow=flow, pk__in=[source_id, target_id])}
    source, target = nodes.get(source_id), nodes.get(target_id)
    if source is None or target is None:
        raise ValidationError({"__all__": "Both nodes must belong to this flow."})
    if node_type_get(target.type).is_trigger:
        raise ValidationError({"__all__": TRIGGER_TARGET_MESSAGE})
    if source.pk == target.pk:
        raise ValidationError({"__all__": "A node cannot connect to itself."})
    if source_handle not in node_type_get(source.type).outputs:
        raise ValidationError(
            {"sourceHandle": f"'{source_handle}' is not an output of a {source.type} node."}
        )
    if target_handle not in node_type_get(target.type).inputs:
        raise ValidationError(
            {"targetHandle": f"'{target_handle}' is not an input of a {target.type} node."}
        )
    connection = Connection(
        flow=flow,
        source=source,
        source_handle=source_handle,
        target=target,
        target_handle=target_handle,
    )
    duplicate = {"__all__": "These nodes are already connected this way."}
    if Connection.objects.filter(
        source=source, source_handle=source_handle, target=target, target_handle=target_handle
    ).exists():
        raise ValidationError(duplicate)
    _save(connection, **duplicate)
    return connection


def connection_delete(*, connection: Connection) -> None:
    connection.delete()


# -- the user-intent migration -----------------------------------------------------------


@dataclass
class MigrationReport:
    migrated_flows: int = 0
    created_nodes: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "migratedFlows": self.migrated_flows,
            "createdNodes": self.created_nodes,
            "errors": self.errors,
        }


def flows_with_legacy_intent(flows: QuerySet[Flow] | None = None) -> QuerySet[Flow]:
    flows = Flow.objects.all() if flows is None else flows
    return flows.filter(~Q(legacy_when_to_use="") | ~Q(legacy_when_not_to_use=""))


def user_intents_migrate(
    *, flows: QuerySet[Flow] | None = None, dry_run: bool = False
) -> MigrationReport:
    """Move flow-level whenToUse/whenNotToUse into a UserIntent node per flow.

    The node goes INTENT_NODE_OFFSET_X to the left of the flow's first node (the leftmost
    non-trigger node; ties: topmost, then oldest), at its height, connected main -> main
    when that node takes a ``main`` input; a flow without nodes gets it at (0, 0). The
    flow fields are cleared in the same transaction, one transaction per flow, so running
    it again finds nothing to do and a flow that fails (say, an intent over 500
    characters) is reported in ``errors`` and left as it was, without stopping the rest.
    ``dry_run`` does everything, then rolls each flow back.
    """
    report = MigrationReport()
    for flow_id in (
        flows_with_legacy_intent(flows).order_by("created_at").values_list("pk", flat=True)
    ):
        try:
            with transaction.atomic():
                created = _migrate_one(flow_id)
                if dry_run:
                    transaction.set_rollback(True)
        except ValidationError as error:
            report.errors.append({"flowId": str(flow_id), "error": _describe(error)})
            continue
        if created:
            report.migrated_flows += 1
            report.created_nodes += 1
    return report


def _describe(error: ValidationError) -> str:
    if not hasattr(error, "error_dict"):
        return "; ".join(error.messages)
    return "; ".join(
        f"{key}: {message}" for key, messages in error.message_dict.items() for message in messages
    )


def _migrate_one(flow_id: uuid.UUID) -> bool:
    flow = Flow.objects.select_for_update().get(pk=flow_id)
    if not flow.has_legacy_intent:  # migrated by a concurrent run meanwhile
        return False
    parameters = {
        key: value
        for key, value in (
            ("whenToUse", flow.legacy_when_to_use),
            ("whenNotToUse", flow.legacy_when_not_to_use),
        )
        if value
    }
    parameters = _clean_parameters(flow, "UserIntent", parameters)
    first = (
        flow.nodes.exclude(type="UserIntent")
        .order_by("position_x", "position_y", "created_at")
        .first()
    )
    intent = Node.objects.create(
        flow=flow,
        type="UserIntent",
        name="User Intent",
        position_x=(first.position_x - INTENT_NODE_OFFSET_X) if first else 0,
        position_y=first.position_y if first else 0,
        parameters=parameters,
    )
    if first is not None and "main" in node_type_get(first.type).inputs:
        Connection.objects.create(flow=flow, source=intent, target=first)
    flow.legacy_when_to_use = flow.legacy_when_not_to_use = ""
    flow.save(update_fields=["legacy_when_to_use", "legacy_when_not_to_use", "updated_at"])
    return True
