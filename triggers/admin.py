"""The trigger admin, registered once, here. The apps above add what needs them through
``TriggerAdmin.extend`` (actions and buttons, inlines, list columns, context for the page):
executions "run now" and the schedule's console, polling "poll now" and the poll state,
webhooks the endpoint — triggers imports none of them (docs/architecture.md)."""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from accounts.admin_scope import TenantScopedAdmin
from triggers import admin_pause, cost_control, services
from triggers.admin_config import PREFIX, TriggerForm, config_fields
from triggers.choices import TriggerOrigin, TriggerStatus
from triggers.models import Trigger


@dataclass(frozen=True)
class ObjectAction:
    """A button of a trigger's page: runs the list action ``name`` on that one trigger,
    shown when ``shown_for(trigger)``."""

    name: str
    label: str
    shown_for: Callable = lambda trigger: True


@admin.register(Trigger)
class TriggerAdmin(TenantScopedAdmin):
    """Edits go through the same services as the APIs; status changes only via the actions."""

    change_form_template = "admin/triggers/trigger/change_form.html"
    inlines = []
    # The buttons of a trigger's page, in order.
    object_actions = [
        ObjectAction("enable", "Enable / unfreeze"),
        ObjectAction("disable", "Disable"),
        # A form for the note and the until-time (triggers/admin_pause.py).
        ObjectAction("pause", "Pause…"),
        ObjectAction("resume", "Resume", lambda t: t.status == TriggerStatus.INACTIVE),
        ObjectAction("duplicate", "Duplicate"),
    ]
    # Each gives the trigger page's template more context: fn(trigger, request) -> dict.
    change_context: list[Callable] = []

    list_display = [
        "name",
        "tenant",
        "agent",
        "origin",
        "provider_id",
        "provider_trigger_id",
        "status",
        admin_pause.paused,
        "short_config_hash",
        "error_message",
        "next_fire_at",
        "last_executed_at",
        "execution_count",
        "error_count",
        "filtered_count",
        "created_at",
    ]
    list_filter = [
        "status",
        "origin",
        "provider_id",
        "provider_trigger_id",
        "is_single_execution",
        "tenant",
    ]
    search_fields = ["name", "public_id", "uuid", "webhook_endpoint__path", "agent__public_id"]
    list_select_related = ["tenant", "agent", "paused_by"]
    # Autocompletes ask the project and agent admins, which are scoped to the viewer's tenants.
    autocomplete_fields = ["project", "agent"]
    raw_id_fields = ["created_by", "updated_by"]
    readonly_fields = [
        "uuid",
        "origin",
        "status",
        "debounce_and_throttle",
        "config_hash",
        "execution_count",
        "error_count",
        "filtered_count",
        "consecutive_failures",
        "last_executed_at",
        "last_execution_status",
        "error_message",
        "error_at",
        "next_fire_at",
        # Set by the pause and resume actions, through the services (triggers/admin_pause.py).
        "paused_at",
        "paused_by",
        "pause_note",
        "paused_until",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    ]
    actions = ["enable", "disable", admin_pause.pause, admin_pause.resume, "duplicate"]
    date_hierarchy = "created_at"
    form = TriggerForm

    @classmethod
    def extend(
        cls,
        *,
        actions=(),
        object_actions=(),
        inlines=(),
        list_display_after: tuple[str, list] | None = None,
        list_select_related=(),
        change_context: Callable | None = None,
    ) -> None:
        """Add an app's parts to the trigger admin (called once, by that app's admin.py):
        ``actions`` (functions decorated with @admin.action) and their buttons first,
        ``inlines``, list columns after the column named in ``list_display_after``."""
        cls.actions = [*actions, *cls.actions]
        cls.object_actions = [*object_actions, *cls.object_actions]
        cls.inlines = [*cls.inlines, *inlines]
        if list_display_after is not None:
            after, columns = list_display_after
            at = cls.list_display.index(after) + 1
            cls.list_display = [*cls.list_display[:at], *columns, *cls.list_display[at:]]
        cls.list_select_related = [*cls.list_select_related, *list_select_related]
        if change_context is not None:
            cls.change_context = [*cls.change_context, change_context]

    def get_inline_instances(self, request, obj=None):
        """The inlines an app added, on the pages of the triggers they are for (an inline's
        ``shown_for(trigger)``; all, when it has none)."""
        return [
            inline
            for inline in super().get_inline_instances(request, obj)
            if obj is not None and getattr(inline, "shown_for", lambda trigger: True)(obj)
        ]

    def get_urls(self):
        own = [
            path(
                "<int:pk>/act/<str:action>/",
                self.admin_site.admin_view(self.object_action_view),
                name="triggers_trigger_act",
            )
        ]
        return own + super().get_urls()

    def object_action_view(self, request, pk, action):
        """A button of the trigger's page: the list action ``action`` on this one trigger.
        An action that answers with a page of its own (a form, a confirmation) is shown, as
        the list's actions are; the others lead back to the trigger's page."""
        queryset = self.get_queryset(request).filter(pk=pk)
        trigger = get_object_or_404(queryset)
        back = reverse("admin:triggers_trigger_change", args=[trigger.pk])
        allowed = dict(self.get_actions(request))
        if (
            request.method == "POST"
            and action in allowed
            and self.has_change_permission(request, trigger)
        ):
            func = allowed[action][0]
            answer = func(self, request, queryset)
            if isinstance(answer, HttpResponseBase):  # a page of its own (a form) first
                return answer
        return HttpResponseRedirect(back)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        trigger = self.get_object(request, object_id) if object_id else None
        extra = dict(extra_context or {})
        if trigger is not None:
            allowed = dict(self.get_actions(request))
            may_change = self.has_change_permission(request, trigger)
            for context in self.change_context:
                extra.update(context(trigger, request))
            extra["pause_summary"] = trigger.pause_summary()
            extra["object_actions"] = [
                (a.name, a.label, reverse("admin:triggers_trigger_act", args=[trigger.pk, a.name]))
                for a in self.object_actions
                if a.name in allowed and may_change and a.shown_for(trigger)
            ]
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="debounce and throttle")
    def debounce_and_throttle(self, trigger) -> str:
        """config.debounce and config.throttle as the engine reads them (set in the config
        JSON; triggers/cost_control.py)."""
        return cost_control.describe(cost_control.cost_control(trigger.config)) if trigger else "-"

    @admin.display(description="config hash", ordering="config_hash")
    def short_config_hash(self, trigger) -> str:
        return trigger.config_hash[:12]

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The model form plus, for a trigger of a known type, its config keys as fields
        (triggers/admin_config.py)."""
        if kwargs.get("fields"):
            kwargs["fields"] = [  # (a read-only callable an app added is no form field)
                name
                for name in kwargs["fields"]
                if not (isinstance(name, str) and name.startswith(PREFIX))
            ]
        form = super().get_form(request, obj, change=change, **kwargs)
        delivery = obj.delivery if obj is not None else None
        if obj is None or delivery is None:
            return form
        fields = config_fields(delivery)
        typed_keys = tuple(name.removeprefix(PREFIX) for name in fields)
        return type(form.__name__, (form,), {**fields, "typed_keys": typed_keys})

    def save_model(self, request, obj, form, change):
        editable = [
            name
            for name in form.cleaned_data
            if name not in self.get_readonly_fields(request, obj if change else None)
            and not name.startswith(PREFIX)
        ]
        values = {name: getattr(obj, name) for name in editable}
        if change:
            changed = {name: values[name] for name in form.changed_data if name in values}
            if form.config_changed():
                changed["config"] = obj.config
            saved = services.trigger_update(trigger=obj, updated_by=request.user, **changed)
        else:
            saved = services.trigger_create(
                created_by=request.user, origin=TriggerOrigin.ADMIN, **values
            )
            obj.pk = saved.pk
        secret = getattr(saved, "new_webhook_secret", None)
        if secret:  # config.authentication_required turned on: the secret is shown once
            self.message_user(
                request,
                f"The trigger's webhook secret, shown only now (send it in X-Webhook-Secret): "
                f"{secret}",
                messages.WARNING,
            )

    def _run(self, request, queryset, service, verb: str) -> None:
        done = 0
        for trigger in queryset:
            try:
                service(trigger)
                done += 1
            except ValidationError as error:
                self.message_user(
                    request, f"{trigger}: {'; '.join(error.messages)}", messages.ERROR
                )
        self.message_user(request, f"{done} trigger(s) {verb}.")

    @admin.action(description="Enable selected triggers (unfreezes failed ones)")
    def enable(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda t: services.trigger_enable(trigger=t, updated_by=request.user),
            "enabled",
        )

    @admin.action(description="Disable selected triggers")
    def disable(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda t: services.trigger_disable(trigger=t, updated_by=request.user),
            "disabled",
        )

    @admin.action(description="Duplicate selected triggers (copies start inactive)")
    def duplicate(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda t: services.trigger_duplicate(trigger=t, created_by=request.user),
            "duplicated",
        )
