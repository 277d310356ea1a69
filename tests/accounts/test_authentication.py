import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create, tenant_member_ensure


def test_it_rejects_requests_without_credentials(db):
    response = APIClient().get("/api/triggers")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_it_rejects_an_unknown_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer trg_not-a-real-token")
    assert client.get("/api/triggers").status_code == 401


def test_it_rejects_a_revoked_token(alice_membership):
    row, token = api_token_create(membership=alice_membership)
    ApiToken.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/triggers").status_code == 401


def test_it_rejects_a_token_whose_membership_is_gone(alice_membership):
    _, token = api_token_create(membership=alice_membership)
    alice_membership.delete()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/triggers").status_code == 401


def test_it_records_token_use(alice_membership):
    row, token = api_token_create(membership=alice_membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get("/api/triggers")
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_it_accepts_a_session_cookie(alice_membership):
    client = APIClient()
    client.force_login(alice_membership.user)
    response = client.get("/api/projects")
    assert response.status_code == 200


def test_session_users_in_two_tenants_choose_one_with_a_header(alice_membership):
    tenant_member_ensure(username="alice", tenant_id="globex")
    client = APIClient()
    client.force_login(alice_membership.user)
    assert client.get("/api/projects").status_code == 403
    response = client.get("/api/projects", HTTP_X_TENANT="globex")
    assert response.status_code == 200
    # A tenant the user is not a member of is refused.
    assert client.get("/api/projects", HTTP_X_TENANT="initech").status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/api/projects"), ("post", "/api/credentials"), ("post", "/api/triggers")],
)
def test_viewers_may_read_but_not_write(bob_client, method, path):
    assert bob_client.get(path).status_code == 200
    response = getattr(bob_client, method)(path, {"name": "x"}, format="json")
    assert response.status_code == 403
