"""No throttling of guesses (issue 19, finding 6): admin logins lock out after repeated
failures (django-axes, per username and per address, unlocked by a command), and wrong
bearer tokens from one address are answered 429 with Retry-After."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.services import api_token_create

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


def test_the_lockout_is_per_username_and_per_address(client, root, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong", address="10.0.0.2")

    # The username is locked from any address, and the address for any username.
    assert log_in(client, "right-password-1", address="10.0.0.9").status_code == 429
    get_user_model().objects.create_superuser("other", password="right-password-2")
    assert log_in(client, "right-password-2", "other", "10.0.0.2").status_code == 429
    assert not logged_in(client)


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
