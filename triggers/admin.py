from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts.admin_scope import TenantScopedAdmin
from triggers import services
from triggers.admin_config import PREFIX, TriggerForm, config_fields
from triggers.choices import TriggerOrigin
from triggers.models import Trigger


@admin.register(Trigger)
class TriggerAdmin(TenantScopedAdmin):
    """Edits go through the same services as the APIs; status changes only via the actions."""

    list_display = [
        "name",
        "tenant",
        "agent",
        "origin",
        "provider_id",
        "provider_trigger_id",
        "status",
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
    list_select_related = ["tenant", "agent"]
    # Autocompletes ask the project and agent admins, which are scoped to the viewer's tenants.
    autocomplete_fields = ["project", "agent"]
    raw_id_fields = ["created_by", "updated_by"]
    readonly_fields = [
        "uuid",
        "origin",
        "status",
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
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    ]
    actions = ["enable", "disable", "duplicate"]
    date_hierarchy = "created_at"
    form = TriggerForm

    @admin.display(description="config hash", ordering="config_hash")
    def short_config_hash(self, trigger) -> str:
        return trigger.config_hash[:12]

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The model form plus, for a trigger of a known type, its config keys as fields
        (triggers/admin_config.py)."""
        if kwargs.get("fields"):
            kwargs["fields"] = [name for name in kwargs["fields"] if not name.startswith(PREFIX)]
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
            if name not in self.readonly_fields and not name.startswith(PREFIX)
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
