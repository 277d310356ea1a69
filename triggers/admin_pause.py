"""The trigger admin's pause: "Pause…" asks for a note and an until-time on a page of its own
(for the triggers selected in the list, or the one whose page has the button), "Resume"
enables paused triggers; the list and the trigger's page say who paused one, why and until
when. The rules are the services' (triggers.services), as on every API."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.utils import timezone

from triggers import services
from triggers.choices import TriggerStatus
from triggers.models import PAUSE_NOTE_MAX_LENGTH, Trigger

# The page lists at most this many of the selected triggers by name (and says how many).
_LISTED = 20


class PauseForm(forms.Form):
    pause_note = forms.CharField(
        label="Note",
        required=False,
        max_length=PAUSE_NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why it is paused, for whoever looks at it next.",
    )
    paused_until = forms.DateTimeField(
        label="Until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"It resumes by itself then ({settings.TIME_ZONE}); its misfire policy "
        "decides about the slots it missed. Empty: until someone resumes it.",
    )

    def clean_paused_until(self):
        until = self.cleaned_data["paused_until"]
        if until is not None and until <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return until


@admin.display(description="pause", ordering="paused_until")
def paused(trigger: Trigger) -> str:
    return trigger.pause_summary()


@admin.action(description="Pause selected triggers… (with a note, until a time)")
def pause(modeladmin, request, queryset):
    """The form first; once it is sent valid, each selected trigger is paused with it."""
    form = PauseForm(request.POST if request.POST.get("apply") else None)
    if form.is_valid():
        given = form.cleaned_data
        modeladmin._run(
            request,
            queryset,
            lambda trigger: services.trigger_disable(
                trigger=trigger,
                updated_by=request.user,
                pause_note=given["pause_note"],
                paused_until=given["paused_until"],
            ),
            "paused",
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Pause triggers",
        "opts": modeladmin.model._meta,
        "form": form,
        "count": queryset.count(),
        "listed": list(queryset[:_LISTED]),
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action": "pause",
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/triggers/trigger/pause.html", context)


@admin.action(description="Resume selected paused triggers")
def resume(modeladmin, request, queryset):
    paused_ones = queryset.filter(status=TriggerStatus.INACTIVE)
    if left := queryset.exclude(status=TriggerStatus.INACTIVE).count():
        modeladmin.message_user(
            request, f"{left} trigger(s) not paused, left alone.", messages.WARNING
        )
    modeladmin._run(
        request,
        paused_ones,
        lambda trigger: services.trigger_enable(trigger=trigger, updated_by=request.user),
        "resumed",
    )
