"""Flows (the flows API): graphs of typed nodes whose first node is a trigger node (UserIntent)."""

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from flows.node_types import NODE_TYPE_NAMES

# A tool name an LLM function-calling API accepts: a letter or _, then letters, digits, _.
validate_tool_name = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
    "Must be a valid tool identifier: a letter or '_', then letters, digits or '_' (max 64).",
)


class Flow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="flows")
    # The flows API's ``appId``: the project that owns the flow.
    app = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tool_name = models.CharField(max_length=64, validators=[validate_tool_name])
    tool_description = models.TextField()
    is_active = models.BooleanField(default=True)
    # Typed inputs: [{"name", "type", "description", "required"}] (flows/parameters.py).
    parameters = models.JSONField(default=list, blank=True)
    # Legacy flow-level intent, kept only until `migrate_user_intents` moves it into a
    # UserIntent node; no API shows or accepts it.
    legacy_when_to_use = models.TextField(blank=True, db_column="when_to_use")
    legacy_when_not_to_use = models.TextField(blank=True, db_column="when_not_to_use")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["app", "tool_name"], name="flow_tool_name_unique_per_app"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="flow_tenant_recent"),
            models.Index(
                fields=["created_at"],
                name="flow_legacy_intent",
                condition=~Q(legacy_when_to_use="") | ~Q(legacy_when_not_to_use=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.tool_name})"

    @property
    def has_legacy_intent(self) -> bool:
        return bool(self.legacy_when_to_use or self.legacy_when_not_to_use)


class Node(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="nodes")
    type = models.CharField(max_length=32, choices=[(name, name) for name in NODE_TYPE_NAMES])
    name = models.CharField(max_length=200)
    position_x = models.FloatField(default=0)
    position_y = models.FloatField(default=0)
    parameters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["flow", "created_at"], name="node_flow_order")]

    def __str__(self) -> str:
        return f"{self.type} {self.name}"


class Connection(models.Model):
    """An edge: ``source``'s output handle -> ``target``'s input handle, in one flow."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="connections")
    source = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="outgoing")
    source_handle = models.CharField(max_length=64, default="main")
    target = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="incoming")
    target_handle = models.CharField(max_length=64, default="main")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_handle", "target", "target_handle"],
                name="connection_unique",
            ),
            models.CheckConstraint(
                condition=~Q(source=F("target")), name="connection_no_self_loop"
            ),
        ]
        indexes = [models.Index(fields=["flow", "created_at"], name="connection_flow_order")]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.source_handle} -> {self.target_id}:{self.target_handle}"
