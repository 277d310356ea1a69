"""Shared cast: tenant ``acme`` (alice, owner; bob, viewer) and tenant ``globex`` (charlie)."""

import pytest
from rest_framework.test import APIClient

from accounts.choices import MembershipRole
from accounts.services import agent_create, api_token_create, project_create, tenant_member_ensure
from triggers import services as trigger_services


@pytest.fixture
def alice_membership(db):
    return tenant_member_ensure(username="alice", tenant_id="acme", role=MembershipRole.OWNER)


@pytest.fixture
def bob_membership(db, alice_membership):
    return tenant_member_ensure(username="bob", tenant_id="acme", role=MembershipRole.VIEWER)


@pytest.fixture
def charlie_membership(db):
    return tenant_member_ensure(username="charlie", tenant_id="globex", role=MembershipRole.OWNER)


@pytest.fixture
def acme(alice_membership):
    return alice_membership.tenant


@pytest.fixture
def globex(charlie_membership):
    return charlie_membership.tenant


@pytest.fixture
def alice(alice_membership):
    return alice_membership.user


def _client_for(membership) -> APIClient:
    _, token = api_token_create(membership=membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def alice_client(alice_membership):
    return _client_for(alice_membership)


@pytest.fixture
def bob_client(bob_membership):
    return _client_for(bob_membership)


@pytest.fixture
def charlie_client(charlie_membership):
    return _client_for(charlie_membership)


@pytest.fixture
def acme_project(acme):
    return project_create(tenant=acme, name="Support", public_id="support")


@pytest.fixture
def acme_agent(acme, acme_project):
    return agent_create(tenant=acme, project=acme_project, name="Triage", public_id="triage")


@pytest.fixture
def make_trigger(alice):
    """Create a trigger through the service, as every surface does."""

    def make(tenant, kind="cron", **fields):
        if kind == "cron":
            fields.setdefault("cron_expression", "*/5 * * * *")
        fields.setdefault("name", f"{kind} trigger")
        return trigger_services.trigger_create(
            tenant=tenant,
            provider_id=fields.pop("provider_id", "builtin"),
            provider_trigger_id=kind,
            created_by=fields.pop("created_by", alice),
            **fields,
        )

    return make
