"""The trigger `authentication` setting: config validation and request checks."""

import base64

import pytest

from webhooks.authentication import check_authentication, validate_authentication_config
from webhooks.errors import Unauthorized

API_KEY = {"type": "api_key", "credentialReferenceId": "cred_1"}
BEARER = {"type": "bearer", "credentialReferenceId": "cred_1"}
BASIC = {"type": "basic", "username": "acme", "credentialReferenceId": "cred_1"}
SECRET = "t0ps3cret"


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def assert_unauthorized(config, headers, secret=SECRET):
    with pytest.raises(Unauthorized) as excinfo:
        check_authentication(config, secret=secret, headers=headers)
    assert excinfo.value.status == 401
    assert excinfo.value.code == "invalid_credentials"
    return excinfo.value


# --- validate_authentication_config ------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, {"type": "none"}),
        ({"type": "none"}, {"type": "none"}),
        (API_KEY, {"type": "api_key", "header": "X-API-Key", "credentialReferenceId": "cred_1"}),
        (
            {**API_KEY, "header": " X-Token "},
            {"type": "api_key", "header": "X-Token", "credentialReferenceId": "cred_1"},
        ),
        (BEARER, BEARER),
        (BASIC, BASIC),
    ],
)
def test_it_normalises_valid_configs(config, expected):
    assert validate_authentication_config(config) == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("bearer", "authentication: must be an object"),
        ({"type": "oauth"}, "authentication.type: must be one of"),
        ({}, "authentication.type: must be one of"),
        ({"type": "bearer"}, "authentication.credentialReferenceId: is required"),
        (
            {**BEARER, "credentialReferenceId": " "},
            "authentication.credentialReferenceId: is required",
        ),
        ({**API_KEY, "header": ""}, "authentication.header: must be a non-empty header name"),
        ({"type": "basic", "credentialReferenceId": "c"}, "authentication.username: is required"),
        ({**BASIC, "username": "a:b"}, "authentication.username: must not contain ':'"),
        ({**BEARER, "header": "X-Key"}, "authentication.header: unknown field for type 'bearer'"),
        (
            {"type": "none", "credentialReferenceId": "c"},
            "authentication.credentialReferenceId: unknown",
        ),
    ],
)
def test_it_rejects_bad_configs_naming_the_field(config, message):
    with pytest.raises(ValueError) as excinfo:
        validate_authentication_config(config)

    assert str(excinfo.value).startswith(message)


# --- check_authentication ----------------------------------------------------------------


def test_none_lets_every_request_through():
    check_authentication({"type": "none"}, secret=None, headers={})
    check_authentication(None, secret=None, headers={})


def test_api_key_accepts_the_key_in_its_header():
    check_authentication(API_KEY, secret=SECRET, headers={"X-API-Key": SECRET})
    check_authentication(API_KEY, secret=SECRET, headers={"x-api-key": SECRET})


def test_api_key_uses_the_configured_header():
    config = {**API_KEY, "header": "X-Token"}

    check_authentication(config, secret=SECRET, headers={"X-Token": SECRET})
    assert_unauthorized(config, {"X-API-Key": SECRET})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "wrong"},
        {"X-API-Key": SECRET + "x"},
        {"X-API-Key": "é"},
    ],
)
def test_api_key_rejects_anything_else(headers):
    error = assert_unauthorized(API_KEY, headers)
    assert "WWW-Authenticate" not in error.headers


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_accepts_the_token_with_any_scheme_case(scheme):
    check_authentication(BEARER, secret=SECRET, headers={"Authorization": f"{scheme} {SECRET}"})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": SECRET},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Token {SECRET}"},
        {"X-API-Key": SECRET},
    ],
)
def test_bearer_rejects_anything_else_with_a_challenge(headers):
    error = assert_unauthorized(BEARER, headers)
    assert error.headers == {"WWW-Authenticate": "Bearer"}


def test_basic_accepts_the_username_and_password():
    check_authentication(BASIC, secret=SECRET, headers=basic("acme", SECRET))


def test_basic_accepts_a_non_ascii_password():
    check_authentication(BASIC, secret="pässwört", headers=basic("acme", "pässwört"))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("acme", "wrong"),
        basic("other", SECRET),
        basic("acme", ""),
        {"Authorization": f"Bearer {SECRET}"},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"acme:\xff").decode()},
    ],
)
def test_basic_rejects_anything_else_with_a_challenge(headers):
    error = assert_unauthorized(BASIC, headers)
    assert error.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("config", [API_KEY, BEARER, BASIC])
def test_a_missing_secret_fails_closed(config):
    with pytest.raises(ValueError, match="needs a secret"):
        check_authentication(config, secret=None, headers={"Authorization": "Bearer "})


def test_an_invalid_config_is_a_value_error_not_a_pass():
    with pytest.raises(ValueError):
        check_authentication({"type": "magic"}, secret=SECRET, headers={})
