"""Every user's public id (UserIdentity): made with the user whoever makes it, stable, made for
older users by migration 0005, shown in the admin, and how an API names a member by it."""

import importlib
import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from accounts.models import UserIdentity
from accounts.selectors import tenant_member_named, user_public_id, user_public_ids
from accounts.services import tenant_member_ensure

User = get_user_model()


def test_it_gives_every_new_user_a_public_id(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    member = tenant_member_ensure(username="alice", tenant_id="acme").user
    plain = User.objects.create_user("bob", password="pw")
    call_command("ensure_admin", stdout=open("/dev/null", "w"))  # noqa: SIM115
    admin = User.objects.get(username="admin")

    identities = UserIdentity.objects.filter(user__in=[member, plain, admin])

    assert identities.count() == 3
    assert len({identity.public_id for identity in identities}) == 3


def test_it_gives_a_user_made_in_the_admin_a_public_id(client, db):
    root = User.objects.create_superuser("root", password="pw-for-tests")
    client.force_login(root)

    response = client.post(
        "/admin/auth/user/add/",
        {"username": "erin", "password1": "a-long-pass-4-erin", "password2": "a-long-pass-4-erin",
         "usable_password": "true"},
    )  # fmt: skip

    assert response.status_code == 302, response.content
    assert UserIdentity.objects.filter(user__username="erin").exists()


def test_it_keeps_a_users_public_id_when_the_user_changes(db):
    user = tenant_member_ensure(username="alice", tenant_id="acme").user
    before = UserIdentity.objects.get(user=user).public_id

    user.email = "alice@example.test"
    user.save()
    tenant_member_ensure(username="alice", tenant_id="globex")

    assert UserIdentity.objects.get(user=user).public_id == before
    assert user_public_id(User.objects.get(pk=user.pk)) == before


def test_the_migration_gives_older_users_theirs_and_keeps_the_rest(db):
    kept = User.objects.create_user("kept")
    older = User.objects.create_user("older")
    kept_id = UserIdentity.objects.get(user=kept).public_id
    UserIdentity.objects.filter(user=older).delete()  # as a user made before migration 0005
    migration = importlib.import_module("accounts.migrations.0005_user_public_id")

    # Not entered: SQLite's editor refuses to open inside the test's transaction, and the
    # data migration only reads its connection.
    migration.identities_for_existing_users(apps, connection.schema_editor(atomic=False))

    assert UserIdentity.objects.get(user=kept).public_id == kept_id
    assert UserIdentity.objects.filter(user=older).count() == 1


def test_a_user_without_one_gets_it_when_shown(db):
    user = User.objects.create_user("raw")
    UserIdentity.objects.filter(user=user).delete()

    shown = user_public_id(User.objects.get(pk=user.pk))

    assert UserIdentity.objects.get(user=user).public_id == shown


def test_public_ids_of_many_users_in_one_query(db, django_assert_num_queries):
    users = [User.objects.create_user(f"u{n}") for n in range(3)]

    with django_assert_num_queries(1):
        found = user_public_ids(user_ids=[str(u.pk) for u in users] + ["999999", "x"])

    assert found == {u.pk: UserIdentity.objects.get(user=u).public_id for u in users}


def test_a_member_is_named_by_public_id_or_integer_id_and_only_in_its_tenant(db):
    alice = tenant_member_ensure(username="alice", tenant_id="acme")
    charlie = tenant_member_ensure(username="charlie", tenant_id="globex")
    alice_id = UserIdentity.objects.get(user=alice.user).public_id
    charlie_id = UserIdentity.objects.get(user=charlie.user).public_id

    assert tenant_member_named(tenant=alice.tenant, reference=str(alice_id)) == alice
    assert tenant_member_named(tenant=alice.tenant, reference=str(alice_id).upper()) == alice
    assert tenant_member_named(tenant=alice.tenant, reference=str(alice.user.pk)) == alice
    for nobody in (str(charlie_id), str(charlie.user.pk), str(uuid.uuid4()), "alice", "",
                   "9" * 30, "-1", "\u0661"):  # fmt: skip
        assert tenant_member_named(tenant=alice.tenant, reference=nobody) is None, nobody


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests"))
    return client


def test_the_admin_shows_and_finds_a_members_public_id(admin_client):
    alice = tenant_member_ensure(username="alice", tenant_id="acme").user
    tenant_member_ensure(username="zed", tenant_id="globex")
    public_id = str(UserIdentity.objects.get(user=alice).public_id)

    page = admin_client.get("/admin/accounts/membership/")
    found = admin_client.get("/admin/accounts/membership/", {"q": public_id})

    assert page.status_code == 200 and public_id in page.content.decode()
    assert "zed" in page.content.decode()
    assert found.status_code == 200
    assert "alice" in found.content.decode() and "zed" not in found.content.decode()
