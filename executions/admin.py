"""The ops console's engine pages (docs/ops-console.md): executions at scale — search, replay,
cancel, bulk replay in the background — and the trigger page's schedule, next slots and
timeline, with run now. Every action calls a service; every read is scoped to the viewer's
tenants (accounts/admin_scope.py)."""

import json
import uuid
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django_celery_beat import models as beat_models

from accounts.admin_scope import TenantScopedAdmin, visible_tenant_ids
from api.counting import bounded_count
from executions import console, selectors
from executions.choices import ExecutionType
from executions.models import Execution
from executions.services import backfill as backfills
from executions.services import firing, lifecycle, replays
from triggers import event_rules
from triggers.admin import ObjectAction, TriggerAdmin
from triggers.choices import Delivery, OverlapPolicy
from triggers.models import Trigger

# django-celery-beat's pages have nothing to do with how triggers fire (its Beat only runs the
# sweeper and the dispatcher, from CELERY_BEAT_SCHEDULE): they leave the admin.
for _model in (
    beat_models.PeriodicTask,
    beat_models.IntervalSchedule,
    beat_models.CrontabSchedule,
    beat_models.SolarSchedule,
    beat_models.ClockedSchedule,
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class BoundedCountPaginator(Paginator):
    """Counts at most ``exact_limit`` rows, then takes PostgreSQL's estimate
    (api/counting.py): a page of a million executions never costs a full COUNT. Lower than
    the APIs' LIST_EXACT_COUNT_LIMIT: a person paging a list needs no exact 10,000th row,
    and counting 10,000 failed executions alone took 55 ms (docs/benchmarks.md)."""

    exact_limit = 1000

    @cached_property
    def count(self) -> int:
        limit = min(self.exact_limit, settings.LIST_EXACT_COUNT_LIMIT)
        return bounded_count(self.object_list, limit=limit)[0]


def _pretty(value) -> str:
    if value is None:
        return "-"
    return format_html("<pre class='json'>{}</pre>", json.dumps(value, indent=2)[:50_000])


def _json_contains(field: str, wanted, features) -> Q:
    """``field`` contains ``wanted`` (JSONB ``@>``). A database without containment (SQLite)
    asks for each of wanted's leaves at its path instead: an empty object there, a list or a
    scalar equal to it."""
    if features.supports_json_field_contains:
        return Q(**{f"{field}__contains": wanted})
    if not isinstance(wanted, dict):
        return Q(**{field: wanted})
    found = Q()
    for key, value in wanted.items():
        if not key or "__" in key or key.isdigit() or key in KeyTransform.get_lookups():
            return Q(pk__in=[])  # no lookup names such a key: not found, never a 500
        path = f"{field}__{key}"
        if isinstance(value, dict) and value:
            found &= _json_contains(path, value, features)
        elif isinstance(value, dict):
            found &= Q(**{f"{path}__isnull": False})
        else:
            found &= Q(**{path: value})
    return found


@admin.register(Execution)
class ExecutionAdmin(TenantScopedAdmin):
    """Read-only: executions are a record; they change only through the engine's services."""

    list_display = [
        "execution_id",
        "trigger",
        "tenant",
        "execution_type",
        "status",
        "scheduled_for",
        "is_backfill",
        "item",
        "retry_count",
        "created_at",
        "duration_seconds",
    ]
    list_filter = [
        "status",
        "execution_type",
        "is_backfill",
        ("created_at", admin.DateFieldListFilter),
        "tenant",
    ]
    # Replaced by get_search_results; named so the search box shows.
    search_fields = ["idempotency_key"]
    search_help_text = (
        "An execution id, an idempotency key, or JSON the request payload or input contains "
        '(e.g. {"action": "opened"}).'
    )
    list_select_related = ["trigger", "tenant"]
    show_full_result_count = False
    paginator = BoundedCountPaginator
    # Rendering a row costs more than finding it: 50 a page keeps the page under 100 ms.
    list_per_page = 50
    actions = ["replay_executions", "cancel_executions"]
    fieldsets = [
        (None, {"fields": ["execution_id", "trigger", "tenant", "execution_type", "status",
                           "is_test", "is_backfill", "replay_of", "replays_list",
                           "error_message", "delivery_count"]}),
        ("Input and output", {"fields": ["request_payload_pretty", "input_data_pretty",
                                         "output_data_pretty", "tokens_used", "tools_executed",
                                         "conversation_id"]}),
        ("Attempts and timings", {"fields": ["retry_count", "max_retries", "worker_id",
                                             "scheduled_for", "idempotency_key", "created_at",
                                             "available_at", "started_at",
                                             "awaiting_result_since", "heartbeat_at",
                                             "completed_at", "duration_seconds"]}),
    ]  # fmt: skip
    change_form_template = "admin/executions/execution/change_form.html"
    change_list_template = "admin/executions/execution/change_list.html"

    # -- the list ---------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        # How far the list goes back: finished executions past retention are deleted.
        history = console.history_kept(
            tenant_ids=visible_tenant_ids(request.user), now=timezone.now()
        )
        return super().changelist_view(request, {"history_kept": history, **(extra_context or {})})

    def lookup_allowed(self, lookup, value, request=None):
        # Links from a trigger's page: its executions (execution_trigger_newest serves them).
        if lookup in ("trigger__id__exact", "trigger__exact", "replay_of__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        """An execution id; else JSON → payload or input containment (JSONB ``@>``); else an
        idempotency key. Exact matches only: a ``LIKE`` over millions of rows is not a search."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(execution_id=uuid.UUID(term)), False
        except ValueError:
            pass
        if term[0] in "{[":
            try:
                wanted = json.loads(term)
            except ValueError:
                wanted = None
            if isinstance(wanted, dict | list):
                features = connections[queryset.db].features
                return queryset.filter(
                    _json_contains("request_payload", wanted, features)
                    | _json_contains("input_data", wanted, features)
                ), False
        return queryset.filter(idempotency_key=term), False

    @admin.display(description="item")
    def item(self, execution) -> str:
        """What fired a poll's execution: the item's id (and title, when it has one)."""
        data = execution.input_data
        if execution.execution_type != ExecutionType.POLLING or not isinstance(data, dict):
            return "-"
        item = data.get("item")
        title = item.get("title") if isinstance(item, dict) else None
        shown = str(data.get("item_id") or execution.idempotency_key or "-")
        return (f"{shown} — {title}" if title else shown)[:120]

    # -- the detail -------------------------------------------------------------------------

    @admin.display(description="request payload")
    def request_payload_pretty(self, execution):
        return _pretty(execution.request_payload)

    @admin.display(description="input (transformed)")
    def input_data_pretty(self, execution):
        return _pretty(execution.input_data)

    @admin.display(description="output")
    def output_data_pretty(self, execution):
        return _pretty(execution.output_data)

    @admin.display(description="replays")
    def replays_list(self, execution):
        url = reverse("admin:executions_execution_changelist")
        count = execution.replays.count()
        if not count:
            return "-"
        return format_html(
            '<a href="{}?replay_of__exact={}">{} replay(s)</a>', url, execution.pk, count
        )

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_cancel_permission(self, request) -> bool:
        # Cancelling and replaying are operations, not edits: staff who may view executions
        # may run them (on their own tenants' executions: the queryset is scoped).
        return self.has_view_permission(request)

    has_replay_permission = has_cancel_permission

    def get_urls(self):
        own = [
            path(
                "<int:pk>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="executions_execution_replay",
            ),
            path(
                "<int:pk>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="executions_execution_cancel",
            ),
            path(
                "filter-dry-run/<int:trigger_pk>/",
                self.admin_site.admin_view(self.filter_dry_run_view),
                name="executions_filter_dry_run",
            ),
        ]
        return own + super().get_urls()

    def filter_dry_run_view(self, request, trigger_pk):
        """ "Try this filter on the last N deliveries": a trigger's filters, or others typed
        here, on its last executions, before anything is saved (selectors.filter_dry_run)."""
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        triggers = Trigger.objects.all()
        tenants = visible_tenant_ids(request.user)
        if tenants is not None:
            triggers = triggers.filter(tenant_id__in=tenants)
        trigger = get_object_or_404(triggers, pk=trigger_pk)
        config = trigger.config if isinstance(trigger.config, dict) else {}
        form = FilterDryRunForm(
            request.POST or None,
            initial={
                "filter": config.get("filter") or "",
                "body_contains": config.get("body_contains") or "",
                "required_headers": ", ".join(config.get("required_headers") or []),
                "limit": event_rules.DRY_RUN_DEFAULT,
            },
        )
        result = None
        if request.method == "POST" and form.is_valid():
            result = selectors.filter_dry_run(trigger=trigger, values=form.cleaned_data)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Try filters on {trigger}'s last deliveries",
            "trigger": trigger,
            "form": form,
            "result": result,
            "back": reverse("admin:triggers_trigger_change", args=[trigger.pk]),
        }
        return TemplateResponse(request, "admin/executions/filter_dry_run.html", context)

    def _own_execution(self, request, pk) -> Execution:
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def replay_view(self, request, pk):
        execution = self._own_execution(request, pk)
        back = reverse("admin:executions_execution_change", args=[execution.pk])
        if request.method != "POST" or not self.has_replay_permission(request):
            return HttpResponseRedirect(back)
        try:
            replay = replays.execution_replay(execution=execution, requested_by=request.user)
        except firing.FiringRefused as refused:
            self.message_user(request, f"Not replayed: {refused.reason}", messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, f"Replayed as {replay.execution_id}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:executions_execution_change", args=[replay.pk]))

    def cancel_view(self, request, pk):
        execution = self._own_execution(request, pk)
        back = reverse("admin:executions_execution_change", args=[execution.pk])
        if request.method == "POST" and self.has_cancel_permission(request):
            self._cancel(request, [execution])
        return HttpResponseRedirect(back)

    # -- actions ----------------------------------------------------------------------------

    @admin.action(
        description="Replay selected executions (all a filter selects: in the background)…",
        permissions=["replay"],
    )
    def replay_executions(self, request, queryset):
        """A confirmation page that says how many; confirmed, a task replays them."""
        limit = settings.BULK_REPLAY_MAX
        if request.POST.get("confirmed") == "yes":
            count = replays.executions_replay_later(
                execution_ids=list(queryset.order_by().values_list("pk", flat=True)[:limit]),
                requested_by_id=request.user.pk,
                tenant_ids=visible_tenant_ids(request.user),
            )
            self.message_user(
                request,
                f"Replaying {count} execution(s) in the background; the replays appear in "
                "this list as they are stored.",
                messages.SUCCESS,
            )
            return None
        count, estimated = bounded_count(queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": "Replay executions?",
            "opts": self.model._meta,
            "count": count,
            "estimated": estimated,
            "limit": limit,
            "over_limit": count > limit,
            "sample": list(queryset.select_related("trigger")[:10]),
            "post": request.POST,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "replay_executions",
            "media": self.media,
        }
        return TemplateResponse(request, "admin/executions/execution/replay_confirm.html", context)

    @admin.action(
        description="Cancel selected pending or running executions", permissions=["cancel"]
    )
    def cancel_executions(self, request, queryset):
        self._cancel(request, queryset)

    def _cancel(self, request, executions) -> None:
        cancelled = skipped = 0
        for execution in executions:
            try:
                lifecycle.execution_cancel(execution=execution, cancelled_by=request.user)
                cancelled += 1
            except ValidationError:
                skipped += 1
        self.message_user(request, f"Cancelled {cancelled} execution(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} had already finished and were left alone.", messages.WARNING
            )


class FilterDryRunForm(forms.Form):
    """The filters to try, as the trigger's config takes them (event_rules.filter_errors)."""

    filter = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    body_contains = forms.CharField(required=False)
    required_headers = forms.CharField(required=False, help_text="Header names, comma-separated.")
    limit = forms.IntegerField(min_value=1, max_value=event_rules.DRY_RUN_MAX)

    def clean(self):
        values = dict(self.cleaned_data)
        headers = values.get("required_headers") or ""
        values["required_headers"] = [h.strip() for h in headers.split(",") if h.strip()]
        for key, message in event_rules.filter_errors(values).items():
            self.add_error(key.split(".")[0].split("[")[0], message)
        return values


def _cost_controls(trigger, request) -> dict:
    """The trigger page's filter and concurrency key, and the link to try filters."""
    config = trigger.config if isinstance(trigger.config, dict) else {}
    entry = trigger.trigger_type
    if entry is None or entry.delivery not in event_rules.EVENT_DELIVERIES:
        return {}
    return {
        "event_filter": config.get("filter") or "",
        "event_concurrency": config.get("concurrency") or None,
        "filter_dry_run_url": reverse("admin:executions_filter_dry_run", args=[trigger.pk]),
    }


# The trigger admin's engine side: "run now", and the schedule, next slots and timeline on
# the trigger's page (triggers/admin.py registers it once).
@admin.action(description="Run selected triggers now (under their firing rules)")
def run_now(modeladmin, request, queryset):
    fired = 0
    for trigger in queryset:
        try:
            firing.execution_run_now(trigger=trigger, requested_by=request.user)
            fired += 1
        except firing.FiringRefused as refused:
            modeladmin.message_user(
                request, f"{trigger}: not run. {refused.reason}", messages.ERROR
            )
    modeladmin.message_user(request, f"{fired} trigger(s) run.")


def _schedule_console(trigger, request) -> dict:
    now = timezone.now()
    return {
        "schedule_in_words": console.schedule_in_words(trigger),
        "upcoming_slots": console.upcoming_slots(trigger, now=now),
        "timeline": console.trigger_timeline(trigger),
        "not_firing": console.not_firing_reason(trigger),
        "executions_url": (
            reverse("admin:executions_execution_changelist") + f"?trigger__id__exact={trigger.pk}"
        ),
    }


class BackfillForm(forms.Form):
    start = forms.DateTimeField(help_text="UTC, e.g. 2026-12-01 09:00. Its slot is included.")
    end = forms.DateTimeField(help_text="UTC; included; not in the future.")


@admin.action(
    description="Backfill the selected schedule trigger's past slots…", permissions=["change"]
)
def backfill(modeladmin, request, queryset):
    """A form (start, end), then a page that says how many slots would fire, then the
    backfill itself (executions/services/backfill.py); the message says what it did. The
    same steps from the list (one trigger selected) and from the trigger's button."""
    triggers = list(queryset[:2])
    if len(triggers) != 1:
        modeladmin.message_user(request, "Backfill one trigger at a time.", messages.ERROR)
        return None
    trigger = triggers[0]
    step = request.POST.get("backfill_step")
    now = timezone.now().replace(second=0, microsecond=0)
    form = BackfillForm(
        request.POST if step else None, initial={"start": now - timedelta(days=1), "end": now}
    )
    preview = None
    if step and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        try:
            if step == "confirm":
                done = backfills.trigger_backfill(
                    trigger=trigger, start=start, end=end, requested_by=request.user
                )
                modeladmin.message_user(request, _backfill_message(trigger, done))
                return None
            preview = backfills.backfill_preview(trigger=trigger, start=start, end=end)
        except ValidationError as error:
            for name, problems in error.message_dict.items():
                form.add_error(name if name in form.fields else None, problems)
        except firing.FiringRefused as refused:
            modeladmin.message_user(request, f"{trigger}: not backfilled. {refused.reason}",
                                    messages.ERROR)  # fmt: skip
            return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Backfill {trigger}",
        "opts": modeladmin.model._meta,
        "trigger": trigger,
        "form": form,
        "preview": preview,
        "shown_slots": preview.slots[:20] if preview else [],
        "runs_alongside": trigger.overlap_policy == OverlapPolicy.ALLOW,
        "selected": [trigger.pk],
        "action": "backfill",
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/triggers/trigger/backfill.html", context)


def _backfill_message(trigger, done: backfills.Backfill) -> str:
    text = (
        f"Backfill of {trigger}: {done.created} slot(s) fired, {done.existing} already had an "
        "execution"
    )
    if done.not_run:
        text += f", {done.not_run} not run ({done.not_run_reason})"
    how = "one after another" if done.one_after_another else "alongside"
    return f"{text}. They run {how} (overlap policy {done.overlap_policy})."


TriggerAdmin.extend(
    actions=[run_now, backfill],
    object_actions=[
        ObjectAction("run_now", "Run now"),
        ObjectAction(
            "backfill", "Backfill…", shown_for=lambda trigger: trigger.delivery == Delivery.SCHEDULE
        ),
    ],
    change_context=_schedule_console,
)
TriggerAdmin.extend(change_context=_cost_controls)
