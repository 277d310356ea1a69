"""No throttling of guesses (issue 19, finding 6): admin logins lock out after repeated
failures (django-axes, per username and address together since issue 25, unlocked by a
command), so does POST /token, and wrong bearer tokens from one address are answered 429 with
Retry-After."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create, tenant_member_ensure

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", password="right-password-1")


def log_in(client, password, username="root", address="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_forty_wrong_admin_logins_then_the_right_one_does_not_log_in(client, root, settings):
    for _ in range(40):
        log_in(client, "wrong")

    response = log_in(client, "right-password-1")

    assert response.status_code == 429
    assert not logged_in(client)


def test_the_lockout_is_per_username_and_address_together(client, root, settings):
    """Issue 25, finding 7: a lockout per username let anyone lock a staff user out, and one
    per address locked out another staff user behind the same address."""
    other = get_user_model().objects.create_superuser("other", password="right-password-2")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong", address="10.0.0.2")

    # (root, 10.0.0.2) is locked, the right password too …
    assert log_in(client, "right-password-1", address="10.0.0.2").status_code == 429
    assert not logged_in(client)
    # … another user from the same address is not …
    assert log_in(client, "right-password-2", "other", "10.0.0.2").status_code == 302
    assert logged_in(client)
    client.logout()
    # … nor the same user from another address.
    assert log_in(client, "right-password-1", address="10.0.0.9").status_code == 302
    assert logged_in(client)
    assert AccessAttempt.objects.filter(username=other.username).count() == 0
    assert list(AccessAttempt.objects.values_list("username", "ip_address")) == [
        ("root", "10.0.0.2")
    ]


def test_the_documented_commands_unlock(client, root, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong")
    assert log_in(client, "right-password-1").status_code == 429

    call_command("axes_reset_username", "root")
    call_command("axes_reset_ip", "10.0.0.1")

    assert log_in(client, "right-password-1").status_code == 302
    assert logged_in(client)


def test_a_success_before_the_limit_starts_the_count_over(client, root, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong")
    assert log_in(client, "right-password-1").status_code == 302

    assert not AccessAttempt.objects.filter(username="root").exists()


def test_api_logins_are_not_counted_by_the_admin_lockout(client, root, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        client.post("/token", {"username": "root", "password": "wrong"})

    assert not AccessAttempt.objects.exists()
    assert log_in(client, "right-password-1").status_code == 302


# -- POST /token (the OAuth2 password flow) ----------------------------------------------------


def token_login(username: str, password: str, address: str, forwarded: str | None = None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    form = {"grant_type": "password", "username": username, "password": password}
    return APIClient().post("/token", form, REMOTE_ADDR=address, **extra)


@pytest.fixture
def dana_and_erin(db):
    users = []
    for name in ("dana", "erin"):
        membership = tenant_member_ensure(username=name, tenant_id="acme")
        membership.user.set_password(f"{name}-password")
        membership.user.save()
        users.append(membership.user)
    return users


def test_token_failures_lock_only_that_username_from_that_address(dana_and_erin, settings):
    """Failures for (dana, A) lock (dana, A) only: erin from A and dana from B still get
    tokens (issue 25, finding 7)."""
    settings.LOGIN_FAILURE_LIMIT = 5
    failed = [token_login("dana", "guess", "10.0.0.1").status_code for _ in range(5)]

    locked = token_login("dana", "dana-password", "10.0.0.1")
    erin_same_address = token_login("erin", "erin-password", "10.0.0.1")
    dana_elsewhere = token_login("dana", "dana-password", "10.0.0.2")

    assert failed == [401] * 5
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert erin_same_address.status_code == 200, erin_same_address.content
    assert dana_elsewhere.status_code == 200, dana_elsewhere.content
    # Only the two tokens given were stored.
    assert ApiToken.objects.filter(name="oauth2 password flow").count() == 2


def test_token_failures_behind_a_proxy_count_the_address_it_saw(dana_and_erin, settings):
    """Behind nginx every request comes from 127.0.0.1: the pair counts the client's address
    (NUM_PROXIES), or one attacker would lock the user out for every client again."""
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(3):
        assert token_login("dana", "guess", "127.0.0.1", "203.0.113.7").status_code == 401

    assert token_login("dana", "dana-password", "127.0.0.1", "203.0.113.7").status_code == 429
    assert token_login("dana", "dana-password", "127.0.0.1", "203.0.113.8").status_code == 200


def bearer(token: str, address: str = "10.1.1.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_wrong_bearer_tokens_are_throttled_per_address(alice_membership, settings):
    settings.THROTTLE_FAILED_TOKENS = "30/min"
    _, token = api_token_create(membership=alice_membership)
    answers = [bearer(f"trg_guess-{n}").get("/api/triggers").status_code for n in range(300)]

    assert answers[:30] == [401] * 30
    assert set(answers[30:]) == {429}
    throttled = bearer(token).get("/api/triggers")  # the right token, from the same address
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "Too many failed" in throttled.json()["detail"]
    assert bearer(token, address="10.2.2.2").get("/api/triggers").status_code == 200


def test_behind_a_proxy_the_address_it_saw_is_counted(alice_membership, settings):
    settings.THROTTLE_FAILED_TOKENS = "3/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    _, token = api_token_create(membership=alice_membership)

    def via_proxy(value: str, client_address: str):
        client = bearer(value, address="127.0.0.1")
        return client.get("/api/triggers", HTTP_X_FORWARDED_FOR=client_address).status_code

    assert [via_proxy("wrong", "203.0.113.7") for _ in range(4)] == [401, 401, 401, 429]
    assert via_proxy(token, "203.0.113.8") == 200
