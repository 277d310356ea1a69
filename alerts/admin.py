"""Alerts in the ops console: channels (the operator's, for every tenant, and each tenant's),
with a "send a test" action; episodes and notifications, read-only. Every write calls
alerts.services; every list is scoped to the viewer's tenants (accounts/admin_scope.py), so
the operator's channels and the service's own episodes are a superuser's alone."""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from accounts.admin_scope import TenantScopedAdmin, sees_every_tenant
from alerts import services
from alerts.choices import TENANT_EVENTS, AlertEvent, ChannelKind, NotificationStatus
from alerts.models import AlertChannel, AlertEpisode, AlertNotification

_SEPARATORS = re.compile(r"[\s,;]+")


class AlertChannelForm(forms.ModelForm):
    """The kind's settings as fields of their own; the URL and the secret are write-only."""

    events = forms.MultipleChoiceField(
        choices=AlertEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What it is told about. The scheduler's and the watcher's heartbeats are "
        "the operator's channels' (no tenant) only.",
    )
    email_to = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Email channels: the addresses, separated by commas or new lines.",
    )
    url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Slack (incoming-webhook URL) and webhook channels. Write-only: leave empty "
        "to keep the current one.",
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook channels: the Standard Webhooks secret (whsec_…). Write-only; "
        "empty on a new channel: one is made and shown once.",
    )

    class Meta:
        model = AlertChannel
        fields = ["tenant", "name", "kind", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["kind"].disabled = True  # another kind is another channel
            self.initial["events"] = self.instance.events
            self.initial["email_to"] = ", ".join(self.instance.email_to)

    def clean_email_to(self):
        text = self.cleaned_data.get("email_to") or ""
        return [address for address in _SEPARATORS.split(text) if address] or None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.channel_check(
                channel=self.instance if self.instance.pk else None, **self.service_values()
            )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned

    def service_values(self) -> dict:
        cleaned = self.cleaned_data
        return {
            # A channel keeps its tenant (accounts/admin_scope.py): read-only once it exists.
            "tenant": self.instance.tenant if self.instance.pk else cleaned.get("tenant"),
            "kind": cleaned.get("kind") or self.instance.kind,
            "name": cleaned.get("name"),
            "events": list(cleaned.get("events") or []),
            "enabled": cleaned.get("enabled"),
            "email_to": cleaned.get("email_to"),
            "url": cleaned.get("url") or None,
            "secret": cleaned.get("secret") or None,
        }

    def _post_clean(self):
        # The model is checked by channel_check (clean) with the kind's settings applied,
        # which the plain model form cannot set (they are stored encrypted).
        pass


@admin.register(AlertChannel)
class AlertChannelAdmin(TenantScopedAdmin):
    form = AlertChannelForm
    list_display = ["name", "scope", "kind", "target", "enabled", "updated_at"]
    list_filter = ["kind", "enabled", "tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]
    actions = ["send_test"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # Only a superuser (the operator) makes a channel of no tenant: one for every tenant.
        operator = sees_every_tenant(request.user)
        if "tenant" in form.base_fields:  # a new channel's; read-only on a change page
            form.base_fields["tenant"].required = not operator
        form.base_fields["events"].initial = [
            event for event in services.default_events(None) if operator or event in TENANT_EVENTS
        ]
        return form

    @admin.display(description="tenant")
    def scope(self, channel) -> str:
        return channel.tenant_id or "every tenant (the operator's)"

    @admin.display(description="to")
    def target(self, channel) -> str:
        if channel.kind == ChannelKind.EMAIL:
            return ", ".join(channel.email_to)
        return channel.url_preview

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        kind = values.pop("kind")
        if change:
            del values["tenant"]  # kept: see service_values
            saved = services.channel_update(channel=obj, **values)
        else:
            saved = services.channel_create(kind=kind, created_by=request.user, **values)
            obj.pk = saved.pk
        if getattr(saved, "new_secret", None):
            self.message_user(
                request,
                f"The channel's signing secret, shown only now: {saved.new_secret}",
                messages.WARNING,
            )

    def delete_model(self, request, obj):
        services.channel_delete(channel=obj)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            services.channel_delete(channel=channel)

    @admin.action(description="Send a test message through the selected channels")
    def send_test(self, request, queryset):
        for channel in queryset:
            notification = services.channel_send_test(channel=channel)
            if notification.status == NotificationStatus.SENT:
                self.message_user(request, f"{channel}: the test was sent.")
            else:
                failed = f"{channel}: the test failed: {notification.last_error}"
                self.message_user(request, failed, messages.ERROR)


class NotificationInline(admin.TabularInline):
    model = AlertNotification
    extra = 0
    can_delete = False
    fields = ["channel", "phase", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class _ReadOnly:
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertEpisode)
class AlertEpisodeAdmin(_ReadOnly, TenantScopedAdmin):
    list_display = ["event", "subject_link", "tenant", "opened_at", "closed_at", "summary"]
    list_filter = ["event", ("closed_at", admin.EmptyFieldListFilter), "tenant"]
    search_fields = ["subject", "subject_label"]
    list_select_related = ["tenant"]
    inlines = [NotificationInline]

    @admin.display(description="subject")
    def subject_link(self, episode):
        return format_html('<a href="{}">{}</a>', episode.admin_path, episode.subject_label)


@admin.register(AlertNotification)
class AlertNotificationAdmin(_ReadOnly, TenantScopedAdmin):
    tenant_field = "channel__tenant"
    list_display = ["channel", "phase", "episode", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["phase", "status"]
    list_select_related = ["channel", "episode"]
