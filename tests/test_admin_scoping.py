"""The admin, scoped by tenant (issue 19, "staff act on their own tenants only"): a staff user
who is not a superuser sees and acts on only the tenants they belong to."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.services import tenant_member_ensure
from executions.models import Execution
from executions.services.firing import execution_create_test
from triggers.models import Trigger

MODELS = ["accounts/tenant", "accounts/membership", "accounts/project", "accounts/agent",
          "accounts/credential", "triggers/trigger", "executions/execution"]  # fmt: skip


@pytest.fixture
def acme_staff(client, acme, alice):
    """dave: staff, member of acme, allowed to view and change everything (not a superuser)."""
    membership = tenant_member_ensure(username="dave", tenant_id="acme")
    dave = membership.user
    dave.is_staff = True
    dave.save()
    dave.user_permissions.set(Permission.objects.all())
    client.force_login(dave)
    return client


@pytest.fixture
def two_tenants(acme, globex, make_trigger):
    acme_trigger = make_trigger(acme, name="acme-cron")
    globex_trigger = make_trigger(globex, name="globex-cron")
    return {
        "acme": acme_trigger,
        "globex": globex_trigger,
        "globex_run": execution_create_test(trigger=globex_trigger),
        "acme_run": execution_create_test(trigger=acme_trigger),
    }


@pytest.mark.parametrize("model", MODELS)
def test_staff_lists_show_only_their_tenants(acme_staff, two_tenants, model):
    page = acme_staff.get(f"/admin/{model}/").content.decode()

    assert "globex" not in page
    if model in ("triggers/trigger", "accounts/tenant"):
        assert "acme" in page


def test_staff_cannot_open_or_change_another_tenants_objects(acme_staff, two_tenants):
    globex = two_tenants["globex"]
    change = reverse("admin:triggers_trigger_change", args=[globex.pk])

    opened = acme_staff.get(change)
    acme_staff.post(change, {"name": "taken over"})

    assert opened.status_code == 302  # "doesn't exist", back to the list
    assert Trigger.objects.get(pk=globex.pk).name == "globex-cron"
    execution = two_tenants["globex_run"]
    page = acme_staff.get(reverse("admin:executions_execution_change", args=[execution.pk]))
    assert page.status_code == 302


def test_staff_actions_reach_only_their_tenants(acme_staff, two_tenants):
    runs = [two_tenants["globex_run"].pk, two_tenants["acme_run"].pk]

    acme_staff.post(
        reverse("admin:executions_execution_changelist"),
        {"action": "cancel_executions", "_selected_action": runs},
    )
    acme_staff.post(
        reverse("admin:triggers_trigger_changelist"),
        {"action": "disable", "_selected_action": [two_tenants["globex"].pk]},
    )

    assert Execution.objects.get(pk=two_tenants["globex_run"].pk).status == "pending"
    assert Execution.objects.get(pk=two_tenants["acme_run"].pk).status == "cancelled"
    assert Trigger.objects.get(pk=two_tenants["globex"].pk).status == "active"


def test_staff_may_only_choose_their_tenants_in_forms(acme_staff, two_tenants):
    page = acme_staff.get(reverse("admin:accounts_project_add")).content.decode()

    assert 'value="acme"' in page and 'value="globex"' not in page


def test_a_superuser_sees_every_tenant(client, two_tenants):
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(root)

    page = client.get("/admin/triggers/trigger/").content.decode()

    assert "globex-cron" in page and "acme-cron" in page


def test_staff_see_and_change_only_their_tenants_users(acme_staff, alice, globex):
    charlie = get_user_model().objects.get(username="charlie")  # globex's
    root = get_user_model().objects.create_superuser("root", password="x")
    tenant_member_ensure(username="root", tenant_id="acme")  # a superuser in their tenant

    listed = acme_staff.get(reverse("admin:auth_user_changelist")).content.decode()

    assert "alice" in listed and "charlie" not in listed and "root" not in listed
    for user in (charlie, root):
        assert acme_staff.get(reverse("admin:auth_user_change", args=[user.pk])).status_code == 302
        password = reverse("admin:auth_user_password_change", args=[user.pk])
        assert acme_staff.get(password).status_code == 404
        acme_staff.post(password, {"password1": "Taken-0ver!", "password2": "Taken-0ver!"})
        user.refresh_from_db()
        assert not user.check_password("Taken-0ver!")


def test_staff_cannot_make_anyone_superuser_or_staff(acme_staff, alice):
    change = reverse("admin:auth_user_change", args=[alice.pk])
    page = acme_staff.get(change)
    assert page.status_code == 200

    acme_staff.post(change, {"username": "alice", "is_superuser": "on", "is_staff": "on",
                             "is_active": "on", "date_joined_0": "2026-01-01",
                             "date_joined_1": "00:00:00"})  # fmt: skip

    alice.refresh_from_db()
    assert not alice.is_superuser and not alice.is_staff
    dave = get_user_model().objects.get(username="dave")
    acme_staff.post(
        reverse("admin:auth_user_change", args=[dave.pk]),
        {"username": "dave", "is_superuser": "on", "is_staff": "on", "is_active": "on"},
    )
    dave.refresh_from_db()
    assert not dave.is_superuser


@pytest.mark.parametrize(
    "page", ["admin:auth_group_changelist", "admin:axes_accessattempt_changelist",
             "admin:axes_accesslog_changelist", "admin:axes_accessfailurelog_changelist"],
)  # fmt: skip
def test_groups_and_login_records_are_the_operators(acme_staff, admin_client, page):
    assert acme_staff.get(reverse(page)).status_code == 403
    assert admin_client.get(reverse(page)).status_code == 200
