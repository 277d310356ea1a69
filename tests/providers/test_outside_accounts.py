"""An outside account (a Slack workspace, a GitHub account, a Stripe account) belongs to one
tenant: its app events reach that tenant's triggers only. Deliveries are signed with the
providers' own libraries (slack-sdk, stripe) or GitHub's documented HMAC."""

import hashlib
import hmac
import json
import time

import pytest
import stripe
from django.urls import reverse
from slack_sdk.signature import SignatureVerifier

from accounts.models import OutsideAccount
from accounts.services import outside_account_bind, project_create
from executions.models import Execution
from providers.services import project_trigger_create
from triggers.models import Trigger
from triggers.services import trigger_enable

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GITHUB_SECRET = "gh-app-secret"
STRIPE_SECRET = "whsec_app_secret"


@pytest.fixture
def apps(settings):
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    settings.GITHUB_WEBHOOK_SECRET = GITHUB_SECRET
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET


@pytest.fixture
def projects(acme, globex):
    return (
        project_create(tenant=acme, name="A", public_id="a"),
        project_create(tenant=globex, name="B", public_id="b"),
    )


def make(project, provider, trigger_id, **config):
    trigger, _ = project_trigger_create(
        project=project, provider_id=provider, trigger_id=trigger_id, trigger_config=config
    )
    return trigger_enable(trigger=trigger)


def slack_post(client, body: dict):
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=timestamp, body=raw)
    return client.post(
        "/v1/webhooks/slack", data=raw, content_type="application/json",
        headers={"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature},
    )  # fmt: skip


def github_post(client, body: dict, event="push", delivery="d-1"):
    raw = json.dumps(body).encode()
    digest = hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        "/v1/webhooks/github", data=raw, content_type="application/json",
        headers={"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": event,
                 "X-GitHub-Delivery": delivery},
    )  # fmt: skip


def stripe_post(client, body: dict):
    raw = json.dumps(body).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        raw.decode(), STRIPE_SECRET, timestamp=int(time.time())
    )
    return client.post(
        "/v1/webhooks/stripe", data=raw, content_type="application/json",
        headers={"Stripe-Signature": header},
    )  # fmt: skip


def private_message(team="T_A", event_id="Ev1"):
    return {
        "type": "event_callback", "team_id": team, "event_id": event_id,
        "event": {"type": "message", "channel": "C1", "text": "tenant A's secret", "user": "U1"},
    }  # fmt: skip


# -- Slack -------------------------------------------------------------------------------------


def test_a_workspace_event_reaches_only_the_tenant_that_named_it(client, apps, projects):
    project_a, project_b = projects
    a_named = make(project_a, "slack", "on_message", team_id="T_A")
    a_any = make(project_a, "slack", "on_message")
    b_any = make(project_b, "slack", "on_message")  # names no team

    response = slack_post(client, private_message())

    assert response.status_code == 200, response.content
    assert response.json() == {
        "matched": 2,
        "stored": 2,
        "duplicates": 0,
        "refused": 0,
        "filtered": 0,
    }
    fired = set(Execution.objects.values_list("trigger_id", flat=True))
    assert fired == {a_named.pk, a_any.pk}
    assert not Execution.objects.filter(trigger__tenant=project_b.tenant).exists()
    assert b_any.pk not in fired


def test_naming_another_tenants_workspace_is_a_409_naming_the_field(
    client, apps, projects, charlie_client
):
    project_a, _ = projects
    make(project_a, "slack", "on_message", team_id="T_A")

    response = charlie_client.post(
        "/projects/b/triggers",
        {"provider_id": "slack", "trigger_id": "on_message", "trigger_config": {"team_id": "T_A"}},
        format="json",
    )

    assert response.status_code == 409, response.content
    assert list(response.json()) == ["trigger_config.team_id"]
    assert not Trigger.objects.filter(tenant_id="globex").exists()  # nothing half-stored
    assert OutsideAccount.objects.get(provider_id="slack", account_id="T_A").tenant_id == "acme"


def test_tenant_b_naming_tenant_as_team_gets_nothing_even_if_bound_later(client, apps, projects):
    """An unbound workspace's events reach no one on a multi-tenant install, and are recorded
    for the operator; the first tenant to name it then owns it."""
    project_a, project_b = projects
    b_any = make(project_b, "slack", "on_message")

    first = slack_post(client, private_message(event_id="Ev1"))

    assert first.json()["matched"] == 0
    assert not Execution.objects.exists()
    seen = OutsideAccount.objects.get(provider_id="slack", account_id="T_A")
    assert seen.tenant_id is None and seen.last_unrouted_at is not None

    make(project_a, "slack", "on_message", team_id="T_A")  # A claims its workspace
    second = slack_post(client, private_message(event_id="Ev2"))

    assert second.json()["stored"] == 1
    assert not Execution.objects.filter(trigger=b_any).exists()


def test_test_samples_of_another_tenants_trigger_show_no_foreign_event(
    client, apps, projects, charlie_client
):
    project_a, project_b = projects
    make(project_a, "slack", "on_message", team_id="T_A")
    b_any = make(project_b, "slack", "on_message")

    slack_post(client, private_message())
    samples = charlie_client.get(f"/api/v0/project-triggers/{b_any.uuid}/test-samples")

    assert samples.status_code == 200
    assert samples.json()["source"] == "catalog"
    assert "tenant A's secret" not in json.dumps(samples.json())


def test_an_operator_moves_a_workspace_and_its_events_follow(client, apps, projects):
    project_a, project_b = projects
    a_trigger = make(project_a, "slack", "on_message", team_id="T_A")
    b_any = make(project_b, "slack", "on_message")
    account = OutsideAccount.objects.get(provider_id="slack", account_id="T_A")

    outside_account_bind(account=account, tenant=project_b.tenant, bound_by="admin root")
    response = slack_post(client, private_message())

    assert response.json()["stored"] == 1
    assert list(Execution.objects.values_list("trigger_id", flat=True)) == [b_any.pk]
    assert not Execution.objects.filter(trigger=a_trigger).exists()  # names T_A, not its own


def test_one_tenant_install_needs_no_binding(client, apps, acme):
    """A one-tenant operator does not notice: the workspace binds at its first event."""
    project = project_create(tenant=acme, name="A", public_id="a")
    trigger = make(project, "slack", "on_message")

    response = slack_post(client, private_message(team="T_ONLY"))

    assert response.json()["stored"] == 1
    assert Execution.objects.get().trigger_id == trigger.pk
    assert OutsideAccount.objects.get(account_id="T_ONLY").tenant_id == "acme"


def test_one_tenant_binding_can_be_turned_off(client, apps, acme, settings):
    settings.OUTSIDE_ACCOUNTS_BIND_TO_ONLY_TENANT = False
    project = project_create(tenant=acme, name="A", public_id="a")
    make(project, "slack", "on_message")

    response = slack_post(client, private_message(team="T_ONLY"))

    assert response.json()["matched"] == 0
    assert not Execution.objects.exists()


# -- GitHub ------------------------------------------------------------------------------------


def push(repository="orgA/private-repo"):
    return {
        "ref": "refs/heads/main",
        "repository": {"full_name": repository, "private": True},
        "commits": [{"id": "abc", "message": "secret fix"}],
    }


def test_a_github_push_reaches_only_the_owner_accounts_tenant(client, apps, projects):
    project_a, project_b = projects
    a_repo = make(project_a, "github", "on_push", repository="orgA/private-repo")
    b_any = make(project_b, "github", "on_push")  # no repository, no connection

    response = github_post(client, push())

    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 1
    assert list(Execution.objects.values_list("trigger_id", flat=True)) == [a_repo.pk]
    assert not Execution.objects.filter(trigger=b_any).exists()
    # Logins are case-insensitive: the binding is the owner's, lower-cased.
    assert OutsideAccount.objects.get(provider_id="github").account_id == "orga"


def test_naming_another_tenants_github_account_is_a_409(apps, projects, charlie_client):
    project_a, _ = projects
    make(project_a, "github", "on_push", repository="orgA/private-repo")

    response = charlie_client.post(
        "/projects/b/triggers",
        {"provider_id": "github", "trigger_id": "on_push",
         "trigger_config": {"repository": "ORGA/other-repo"}},
        format="json",
    )  # fmt: skip

    assert response.status_code == 409, response.content
    assert "trigger_config.repository" in response.json()


def test_a_github_event_of_an_unbound_account_reaches_no_one(client, apps, projects):
    project_a, project_b = projects
    make(project_a, "github", "on_push", repository="orgA/api")
    b_any = make(project_b, "github", "on_push")

    response = github_post(client, push("orgC/thing"))

    assert response.json()["matched"] == 0
    assert not Execution.objects.filter(trigger=b_any).exists()


# -- Stripe ------------------------------------------------------------------------------------


def customer_created(account=None):
    event = {"id": "evt_1", "object": "event", "type": "customer.created",
             "data": {"object": {"id": "cus_1", "email": "a@example.com"}}}  # fmt: skip
    if account:
        event["account"] = account
    return event


def test_a_connected_accounts_event_reaches_only_its_tenant(client, apps, projects):
    project_a, project_b = projects
    a_trigger = make(project_a, "stripe", "on_customer_created", account_id="acct_A1")
    b_any = make(project_b, "stripe", "on_customer_created")

    response = stripe_post(client, customer_created("acct_A1"))

    assert response.status_code == 200, response.content
    assert list(Execution.objects.values_list("trigger_id", flat=True)) == [a_trigger.pk]
    assert not Execution.objects.filter(trigger=b_any).exists()


def test_the_platform_accounts_events_reach_only_the_tenant_an_operator_bound(
    client, apps, projects
):
    project_a, project_b = projects
    a_any = make(project_a, "stripe", "on_customer_created")
    b_any = make(project_b, "stripe", "on_customer_created")

    unbound = stripe_post(client, customer_created())
    assert unbound.json()["matched"] == 0

    platform = OutsideAccount.objects.get(provider_id="stripe", account_id="platform")
    outside_account_bind(account=platform, tenant=project_b.tenant, bound_by="admin root")
    bound = stripe_post(client, {**customer_created(), "id": "evt_2"})

    assert bound.json()["stored"] == 1
    assert list(Execution.objects.values_list("trigger_id", flat=True)) == [b_any.pk]
    assert not Execution.objects.filter(trigger=a_any).exists()


def test_no_trigger_config_can_claim_the_platform_account(apps, projects, charlie_client):
    response = charlie_client.post(
        "/projects/b/triggers",
        {"provider_id": "stripe", "trigger_id": "on_customer_created",
         "trigger_config": {"account_id": "platform"}},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert "trigger_config.account_id" in response.json()
    assert not OutsideAccount.objects.exists()


# -- the admin ---------------------------------------------------------------------------------


def test_only_a_superuser_moves_a_binding_in_the_admin(client, projects, django_user_model):
    project_a, project_b = projects
    make(project_a, "slack", "on_message", team_id="T_A")
    account = OutsideAccount.objects.get()
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    url = reverse("admin:accounts_outsideaccount_change", args=[account.pk])

    page = client.get(url)
    moved = client.post(url, {"tenant": project_b.tenant.pk})

    assert page.status_code == 200
    assert moved.status_code == 302, moved.content[:2000]
    account.refresh_from_db()
    assert account.tenant_id == "globex"
    assert account.bound_by == "admin root"
