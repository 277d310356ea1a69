from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Tenant


def _run(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_it_creates_user_tenant_membership_and_prints_the_token_last():
    lines = _run("--username", "dora", "--tenant", "initech")
    token = lines[-1]
    assert token.startswith("trg_") and " " not in token
    user = get_user_model().objects.get(username="dora")
    assert Tenant.objects.filter(id="initech").exists()
    assert Membership.objects.get(user=user, tenant_id="initech").role == "owner"
    # Only a digest is stored.
    assert not ApiToken.objects.filter(digest=token).exists()
    assert ApiToken.objects.filter(user=user, prefix=token[:12]).count() == 1

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/projects").status_code == 200


@pytest.mark.django_db
def test_it_reuses_existing_objects_and_issues_a_new_token():
    first = _run("--username", "dora", "--tenant", "initech")[-1]
    second = _run("--username", "dora", "--tenant", "initech", "--role", "viewer")[-1]
    assert first != second
    assert Membership.objects.filter(user__username="dora").count() == 1
    # An existing membership keeps its role.
    assert Membership.objects.get(user__username="dora").role == "owner"
    assert ApiToken.objects.filter(user__username="dora").count() == 2


@pytest.mark.django_db
def test_it_rejects_a_bad_tenant_id():
    with pytest.raises(CommandError, match="--tenant"):
        _run("--username", "dora", "--tenant", "no spaces/allowed")
    assert not Tenant.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--username", "", "--tenant", "acme"], "--username"),
        (["--username", "bad user!", "--tenant", "acme"], "--username"),
        (["--username", "u" * 151, "--tenant", "acme"], "--username"),
        (["--username", "dora", "--tenant", "t" * 256], "--tenant"),
        (["--username", "dora", "--tenant", "acme", "--name", "n" * 101], "--name"),
    ],
)
def test_values_the_models_refuse_are_an_error_naming_the_option(args, named):
    with pytest.raises(CommandError, match=f"^{named}:"):
        _run(*args)

    assert not ApiToken.objects.exists() and not Tenant.objects.exists()


@pytest.mark.django_db
def test_an_inactive_user_gets_no_token():
    get_user_model().objects.create(username="gone", is_active=False)

    with pytest.raises(CommandError, match="not active"):
        _run("--username", "gone", "--tenant", "acme")

    assert not ApiToken.objects.exists()
