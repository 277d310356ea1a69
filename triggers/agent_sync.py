"""The agent API's "these are my triggers now": an agent's declared triggers replace its own.

An agent platform declares an agent's triggers (``[{trigger_id, status?, config?}]``) and
sends the whole list again whenever the agent changes; ``agent_triggers_set`` works out what
changed, in one transaction, without losing a trigger's id, history or webhook URL:

1. a declared item whose ``trigger_id``, config (the same ``config_hash``) and status equal
   an existing trigger's is that trigger, unchanged, whatever the list's order;
2. then one whose ``trigger_id`` and config equal an existing trigger's is that trigger —
   only its status changed;
3. the remaining declared and existing items of one ``trigger_id`` are paired in order
   (existing ones oldest first) and the existing one is *updated* in place;
4. the rest are *created* (declared) or *deleted* (existing).

Only triggers the agent API created for this agent (``origin = agent``) take part: a trigger
another surface made for the agent is never deleted by a PUT. The same list sent twice
changes nothing (0 created, 0 updated, 0 deleted). A declared ``ENABLED`` is satisfied by a
trigger that is active or that events took out of service (failed, completed, stale): only
``enable`` unfreezes a failed trigger, so a platform that re-sends its list does not thaw a
crashing one. A bad item is a ValidationError keyed ``triggers[<i>].<field>`` and nothing
is changed.

A declared ``DISABLED`` item may carry a pause's ``pause_note`` and ``paused_until``; a PUT
changes a trigger's pause only when its item names them, so a platform that never sends them
leaves alone the pauses people set on other surfaces. A ``DISABLED`` item whose
``paused_until`` has passed declares a pause that is over: it is read as ``ENABLED``, so
the same list sent again after the trigger resumed by itself changes nothing (and is not
refused for an until-time in the past).
"""

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Agent
from triggers import services
from triggers.choices import TriggerOrigin, TriggerStatus
from triggers.models import Trigger, config_hash

# Where a model field's error belongs in a declared item.
ITEM_FIELDS = {
    "cron_expression": "config.schedule",
    "timezone": "config.timezone",
    "webhook_path": "config.path",
    "provider_trigger_id": "trigger_id",
    "status": "status",
}


@dataclass(frozen=True)
class DeclaredTrigger:
    """One declared item, validated in shape by the API: a catalog ``trigger_id`` of the
    ``builtin`` provider, ``enabled`` (ENABLED/DISABLED) and its ``config``; a DISABLED one's
    pause note and end when it names them (else ``services.UNCHANGED``)."""

    trigger_id: str
    enabled: bool
    config: dict[str, Any]
    pause_note: str | None = services.UNCHANGED
    paused_until: datetime | None = services.UNCHANGED

    @property
    def config_hash(self) -> str:
        return config_hash(self.trigger_id, self.config)

    def as_of(self, now: datetime) -> "DeclaredTrigger":
        """The item as it stands at ``now``: a pause whose end has passed is over (ENABLED)."""
        until = self.paused_until
        if self.enabled or until in (None, services.UNCHANGED) or until > now:
            return self
        return replace(
            self, enabled=True, pause_note=services.UNCHANGED, paused_until=services.UNCHANGED
        )

    def pause_changes(self, trigger: Trigger) -> dict[str, Any]:
        """The pause note and end this item names that ``trigger`` does not have."""
        wanted = {"pause_note": self.pause_note, "paused_until": self.paused_until}
        changes = {name: value for name, value in wanted.items() if value is not services.UNCHANGED}
        if changes.get("pause_note") is None and "pause_note" in changes:
            changes["pause_note"] = ""
        return {name: value for name, value in changes.items() if getattr(trigger, name) != value}


@dataclass
class SetResult:
    triggers: list[Trigger] = field(default_factory=list)  # in the declared order
    created: int = 0
    updated: int = 0
    deleted: int = 0


def agent_triggers(*, agent: Agent):
    """The triggers the agent API manages for ``agent``, oldest first."""
    return Trigger.objects.filter(agent=agent, origin=TriggerOrigin.AGENT).order_by(
        "created_at", "id"
    )


@transaction.atomic
def agent_triggers_set(
    *, agent: Agent, declared: list[DeclaredTrigger], user: AbstractBaseUser | None = None
) -> SetResult:
    """Make ``agent``'s triggers the ``declared`` ones (module docstring)."""
    # One PUT per agent at a time: a second waits and then sees the first one's result.
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    now = timezone.now()
    declared = [item.as_of(now) for item in declared]
    existing = list(agent_triggers(agent=agent))
    pairs: dict[int, Trigger] = {}
    unmatched = list(existing)
    for alike in (_unchanged, _same_config, _same_type):  # the closest pairs first, in order
        for index, item in enumerate(declared):
            if index in pairs:
                continue
            match = next((t for t in unmatched if alike(t, item)), None)
            if match is not None:
                pairs[index] = match
                unmatched.remove(match)

    result = SetResult(deleted=len(unmatched))
    for trigger in unmatched:  # first, so a path an old trigger held is free for a new one
        services.trigger_delete(trigger=trigger)
    for index, item in enumerate(declared):
        with _errors_of_item(index):
            trigger = pairs.get(index)
            if trigger is None:
                trigger = _create(agent, item, user)
                result.created += 1
            else:
                trigger, changed = _update(trigger, item, user)
                result.updated += changed
        result.triggers.append(trigger)
    return result


@transaction.atomic
def _same_type(trigger: Trigger, item: DeclaredTrigger) -> bool:
    return trigger.provider_trigger_id == item.trigger_id


def _same_config(trigger: Trigger, item: DeclaredTrigger) -> bool:
    return _same_type(trigger, item) and trigger.config_hash == item.config_hash


def _unchanged(trigger: Trigger, item: DeclaredTrigger) -> bool:
    """The same config in the state declared (an ENABLED item is satisfied by any state but
    inactive: _update): of several triggers alike but for their status, each declared one
    keeps its own, whatever the order of the list."""
    return _same_config(trigger, item) and (trigger.status == TriggerStatus.INACTIVE) != (
        item.enabled
    )


def agent_triggers_delete(*, agent: Agent) -> int:
    """Delete every trigger the agent API manages for ``agent`` (and their history); how
    many triggers."""
    return services.triggers_delete(triggers=agent_triggers(agent=agent))


def _create(agent: Agent, item: DeclaredTrigger, user) -> Trigger:
    return services.trigger_create(
        tenant=agent.tenant,
        project=agent.project,
        agent=agent,
        origin=TriggerOrigin.AGENT,
        name=f"{agent.name}: {item.trigger_id}"[: Trigger._meta.get_field("name").max_length],
        provider_trigger_id=item.trigger_id,
        config=item.config,
        config_is_whole=True,
        status=TriggerStatus.ACTIVE if item.enabled else TriggerStatus.INACTIVE,
        created_by=user,
        pause_note=item.pause_note,
        paused_until=item.paused_until,
    )


def _update(trigger: Trigger, item: DeclaredTrigger, user) -> tuple[Trigger, bool]:
    """(the trigger, whether it changed): the declared config, and the declared status
    unless an event took the trigger out of service while it is declared ENABLED; a DISABLED
    item's pause note and end when it names them."""
    wanted_status = None
    if not item.enabled and trigger.status != TriggerStatus.INACTIVE:
        wanted_status = TriggerStatus.INACTIVE
    elif item.enabled and trigger.status == TriggerStatus.INACTIVE:
        wanted_status = TriggerStatus.ACTIVE
    same_config = trigger.config_hash == item.config_hash
    # Disabled now, the trigger's pause is a new one: the item's parts are set as given.
    pause = (
        item.pause_changes(trigger) if wanted_status is None else
        {"pause_note": item.pause_note, "paused_until": item.paused_until}
    )  # fmt: skip
    if same_config and wanted_status is None and not pause:
        return trigger, False
    fields: dict[str, Any] = dict(pause)
    if not same_config:
        fields.update(config=item.config, config_is_whole=True)
    updated = services.trigger_update(
        trigger=trigger, updated_by=user, status=wanted_status, **fields
    )
    return updated, True


@contextmanager
def _errors_of_item(index: int):
    """Re-raise a ValidationError of item ``index`` keyed ``triggers[<index>].<field>``."""
    try:
        yield
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            raise ValidationError({f"triggers[{index}]": error.messages}) from None
        raise ValidationError(
            {
                f"triggers[{index}]"
                + ("" if key == NON_FIELD_ERRORS else f".{ITEM_FIELDS.get(key, key)}"): messages
                for key, messages in error.message_dict.items()
            }
        ) from None
