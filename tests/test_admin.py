"""The Django admin: every model's pages load, and trigger actions call the services."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.encryption import decrypt_secret
from accounts.models import Credential
from triggers.models import Trigger


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "accounts/tenant",
        "accounts/membership",
        "accounts/apitoken",
        "accounts/project",
        "accounts/agent",
        "accounts/credential",
        "triggers/trigger",
        "webhooks/webhookendpoint",
        "executions/execution",
    ],
)
def test_every_changelist_loads(admin_client, acme_objects_for_admin, model):
    response = admin_client.get(f"/admin/{model}/")
    assert response.status_code == 200


@pytest.fixture
def acme_objects_for_admin(acme, acme_agent, make_trigger, alice_client):
    trigger = make_trigger(acme, agent=acme_agent, project=acme_agent.project)
    alice_client.post(f"/api/triggers/{trigger.id}/test")
    alice_client.post("/api/credentials", {"name": "k", "value": "v"}, format="json")
    return trigger


def test_trigger_actions_call_the_services(admin_client, acme, make_trigger):
    trigger = make_trigger(acme, "webhook", name="Hook")
    url = reverse("admin:triggers_trigger_changelist")

    admin_client.post(url, {"action": "disable", "_selected_action": [trigger.pk]})
    trigger.refresh_from_db()
    assert trigger.status == "inactive"

    admin_client.post(url, {"action": "enable", "_selected_action": [trigger.pk]})
    trigger.refresh_from_db()
    assert trigger.status == "active"

    admin_client.post(url, {"action": "duplicate", "_selected_action": [trigger.pk]})
    copy = Trigger.objects.exclude(pk=trigger.pk).get()
    assert copy.name == "Hook (copy)" and copy.status == "inactive"
    assert copy.webhook_endpoint.token != trigger.webhook_endpoint.token


def test_run_now_fires_under_the_firing_rules(admin_client, acme, make_trigger):
    trigger = make_trigger(acme, "webhook", name="Hook", max_executions_per_hour=1)
    url = reverse("admin:triggers_trigger_changelist")

    first = admin_client.post(url, {"action": "run_now", "_selected_action": [trigger.pk]})
    second = admin_client.post(
        url, {"action": "run_now", "_selected_action": [trigger.pk]}, follow=True
    )

    execution = trigger.executions.get()  # the second was refused: over the hourly limit
    assert first.status_code == 302
    assert (execution.execution_type, execution.is_test) == ("manual", False)
    assert execution.input_data == {"requested_by": "root"}
    assert "not run. Over the limit of 1 executions per hour." in second.content.decode()


def test_trigger_detail_page_loads_and_edits_rearm(admin_client, acme, make_trigger):
    trigger = make_trigger(acme, cron_expression="0 9 * * *")
    page = admin_client.get(reverse("admin:triggers_trigger_change", args=[trigger.pk]))
    assert page.status_code == 200


def test_executions_are_read_only_in_the_admin(admin_client, acme_objects_for_admin):
    execution = acme_objects_for_admin.executions.get()
    page = admin_client.get(reverse("admin:executions_execution_change", args=[execution.pk]))
    assert page.status_code == 200
    assert b'name="status"' not in page.content
    assert admin_client.get(reverse("admin:executions_execution_add")).status_code == 403


def test_credential_values_are_write_only_in_the_admin(admin_client, acme):
    add = reverse("admin:accounts_credential_add")
    response = admin_client.post(add, {"tenant": acme.pk, "name": "stripe", "value": "sk_live_x"})
    assert response.status_code == 302
    credential = Credential.objects.get(name="stripe")
    assert decrypt_secret(credential.encrypted_value) == "sk_live_x"

    page = admin_client.get(reverse("admin:accounts_credential_change", args=[credential.pk]))
    assert b"sk_live_x" not in page.content
    assert credential.encrypted_value.encode() not in page.content


def test_a_credential_is_renamed_and_given_a_new_value_but_stays_with_its_tenant(
    admin_client, acme, globex
):
    from accounts.services import credential_create

    credential = credential_create(tenant=acme, name="stripe", value="sk_old")
    credential_create(tenant=acme, name="taken", value="x")
    change = reverse("admin:accounts_credential_change", args=[credential.pk])

    clash = admin_client.post(change, {"name": "taken", "provider_id": "", "value": ""})
    moved = admin_client.post(
        change, {"tenant": globex.pk, "name": "stripe-live", "provider_id": "stripe",
                 "value": "sk_new"},
    )  # fmt: skip

    assert clash.status_code == 200 and b"already exists" in clash.content
    assert moved.status_code == 302
    credential.refresh_from_db()
    assert (credential.tenant_id, credential.name, credential.provider_id) == (
        acme.pk, "stripe-live", "stripe"
    )  # fmt: skip
    assert decrypt_secret(credential.encrypted_value) == "sk_new"


def test_the_cancel_action_cancels_unfinished_executions_only(admin_client, acme, make_trigger):
    from executions.services.firing import execution_create_test

    trigger = make_trigger(acme)
    pending = execution_create_test(trigger=trigger)
    done = execution_create_test(trigger=trigger)
    done.status = "completed"
    done.save()
    url = reverse("admin:executions_execution_changelist")

    response = admin_client.post(
        url, {"action": "cancel_executions", "_selected_action": [pending.pk, done.pk]}
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    done.refresh_from_db()
    assert (pending.status, done.status) == ("cancelled", "completed")


def test_the_project_templates_override_the_admin_look(admin_client):
    """templates/admin/base_site.html (the project's template overrides) is the one used."""
    page = admin_client.get("/admin/").content.decode()

    assert '<div id="site-name"><a href="/admin/">Agent trigger service</a></div>' in page
    assert "<title>Site administration | Agent trigger service</title>" in page


def test_agent_api_triggers_show_their_origin_status_hash_and_error(
    admin_client, alice_client, acme_agent
):
    alice_client.put(
        "/agents/triage/triggers",
        {"triggers": [{"trigger_id": "cron", "config": {"schedule": "0 9 * * *"}}]},
        format="json",
    )
    trigger = Trigger.objects.get()
    Trigger.objects.filter(pk=trigger.pk).update(status="failed", error_message="Frozen: boom")

    page = admin_client.get(reverse("admin:triggers_trigger_changelist")).content.decode()

    assert "Agent API" in page and "Failed" in page and "Frozen: boom" in page
    assert trigger.config_hash[:12] in page


def test_the_provider_catalog_page_lists_every_providers_triggers(admin_client):
    home = admin_client.get("/admin/").content.decode()
    page = admin_client.get("/admin/catalog/")

    assert 'href="/admin/catalog/"' in home
    assert page.status_code == 200
    text = page.content.decode()
    for shown in ("on_customer_created", "on_issue_opened", "on_message", "team_id", "cron"):
        assert shown in text


def test_the_catalog_page_is_for_staff_only(client):
    response = client.get("/admin/catalog/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_trigger_admin_is_registered_once_with_every_apps_parts():
    from pathlib import Path

    from django.contrib import admin as django_admin

    from triggers.admin import TriggerAdmin

    assert type(django_admin.site._registry[Trigger]) is TriggerAdmin
    names = [getattr(a, "__name__", a) for a in TriggerAdmin.actions]
    assert names[:2] == ["poll_now", "run_now"] or names[:2] == ["run_now", "poll_now"]
    assert {"enable", "disable", "duplicate"} <= set(names)
    root = Path(__file__).resolve().parent.parent
    registering = [
        str(path.relative_to(root))
        for path in root.glob("*/admin.py")
        if "register(Trigger)" in path.read_text() or "unregister(Trigger)" in path.read_text()
    ]
    assert registering == ["triggers/admin.py"]


def test_no_row_moves_to_another_tenant_once_it_exists(rf, db):
    """What refers to a tenant's row (a trigger's agent, a flow's triggers) is that tenant's:
    every scoped admin shows the tenant read-only on a change page, but the outside
    accounts', whose binding an operator changes on purpose."""
    from django.contrib import admin

    from accounts.admin_scope import TenantScopedAdmin
    from accounts.models import OutsideAccount

    request = rf.get("/")
    request.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    checked = []
    for model, model_admin in admin.site._registry.items():
        has_tenant = any(f.name == "tenant" and f.concrete for f in model._meta.get_fields())
        if not isinstance(model_admin, TenantScopedAdmin) or not has_tenant:
            continue
        read_only = model_admin.get_readonly_fields(request, model())
        assert ("tenant" in read_only) is (model is not OutsideAccount), model.__name__
        checked.append(model.__name__)
    assert {"Trigger", "Agent", "Project", "Flow", "Credential", "AlertChannel"} <= set(checked)
