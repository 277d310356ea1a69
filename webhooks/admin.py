"""A webhook trigger's endpoint in the admin: its URL, method and settings, changed as a
write of its trigger (webhooks.services), so the admin obeys the rules every API does."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_scope import TenantScopedAdmin
from triggers.admin import TriggerAdmin
from webhooks import authentication, services
from webhooks.models import WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    """Header authentication is shown as the APIs show it, names and value prefixes, never a
    hash; what is typed is stored as the management API stores it (hashed; an entry without
    a value keeps the stored one of its name)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "authentication" in self.fields:
            self.initial["authentication"] = authentication.shown_authentication(
                self.instance.authentication
            )
            self.fields["authentication"].help_text = (
                'Header values are write-only: {"headers": [{"name": "X-Token", "value": '
                '"…"}]} sets one; an entry without a value keeps the stored value of its name.'
            )

    def clean_authentication(self):
        if "authentication" not in self.changed_data:
            return self.instance.authentication
        try:
            return authentication.store_authentication(
                self.cleaned_data.get("authentication"), self.instance.authentication
            )
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def clean(self):
        cleaned = super().clean()
        given = {
            services.SETTING_OF_FIELD[name]: cleaned[name]
            for name in self.changed_data
            if name in cleaned and name in services.SETTING_OF_FIELD
        }
        errors = services.webhook_settings_errors(trigger=self.instance.trigger, settings=given)
        if errors:
            raise ValidationError(
                {services.ENDPOINT_FIELDS.get(name, "__all__"): message
                 for name, message in errors.items()}
            )  # fmt: skip
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    """Made with its trigger and deleted with it: no add or delete here."""

    form = WebhookEndpointForm
    list_display = ["trigger", "path", "method", "signing_secret"]
    list_filter = ["method"]
    search_fields = ["trigger__name", "trigger__public_id", "path"]
    list_select_related = ["trigger"]
    tenant_field = "trigger__tenant"
    raw_id_fields = ["signing_secret"]
    readonly_fields = ["trigger", "token", "secret_digest", "delivery_version"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        settings = {
            services.SETTING_OF_FIELD[name]: form.cleaned_data[name]
            for name in form.changed_data
            if name in services.SETTING_OF_FIELD
        }
        services.webhook_endpoint_update(endpoint=obj, settings=settings, user=request.user)


class WebhookEndpointInline(admin.StackedInline):
    """The endpoint on its trigger's page, read-only; edited on its own page (the link),
    where the form checks it as every API does."""

    model = WebhookEndpoint
    can_delete = False
    extra = 0
    max_num = 1
    verbose_name = verbose_name_plural = "webhook endpoint"
    fields = [
        "edit_link",
        "path",
        "method",
        "signing_secret",
        "shown_authentication",
        "signature_verification",
        "input_schema",
        "message_template",
        "output_transform",
    ]
    readonly_fields = fields

    @staticmethod
    def shown_for(trigger) -> bool:
        return hasattr(trigger, "webhook_endpoint")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="authentication")
    def shown_authentication(self, endpoint) -> str:
        shown = authentication.shown_authentication(endpoint.authentication)
        return "-" if shown is None else json.dumps(shown)

    @admin.display(description="settings")
    def edit_link(self, endpoint) -> str:
        url = reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])
        return format_html('<a href="{}" id="webhook-endpoint-edit">Change the endpoint</a>', url)


TriggerAdmin.extend(inlines=[WebhookEndpointInline], list_select_related=["webhook_endpoint"])
