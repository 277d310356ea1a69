"""The trigger `authentication` setting: storing, showing, validating and checking it."""

import base64
import hashlib
import json
import re

import pytest

from webhooks.authentication import (
    authentication_header_names,
    check_authentication,
    header_value_matches,
    shown_authentication,
    store_authentication,
    validate_authentication_config,
    value_prefix,
)
from webhooks.errors import Forbidden, Unauthorized, WebhookRejected

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
        ({"credentialReferenceId": "c"}, "authentication.type: must be one of"),
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


# --- the headers shape (the management API's) ----------------------------------------------


@pytest.fixture
def scrypt_calls(monkeypatch):
    """How many scrypt hashes ran, with the per-process verdicts emptied first."""
    from webhooks import authentication

    authentication._accepted.clear()
    authentication._refused.clear()
    calls = []
    real = authentication._scrypt

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(authentication, "_scrypt", counting)
    return calls


def stored(*pairs, before=None):
    return store_authentication(
        {"headers": [{"name": name, "value": value} for name, value in pairs]}, before
    )


def test_store_hashes_each_value_and_never_keeps_it():
    value = "tok_live_9f8e7d6c5b4a"
    result = stored(("X-Token", value), ("X-Env", "production"))

    assert [entry["name"] for entry in result["headers"]] == ["X-Token", "X-Env"]
    assert value not in json.dumps(result)
    token = result["headers"][0]
    assert set(token) == {"name", "valueHash", "valuePrefix"}
    scheme, n, r, p, salt, digest = token["valueHash"].split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    expected = hashlib.scrypt(
        value.encode(), salt=base64.b64decode(salt), n=16384, r=8, p=1, dklen=32
    )
    assert base64.b64decode(digest) == expected
    assert header_value_matches(value, token["valueHash"])
    assert not header_value_matches(value + "x", token["valueHash"])


def test_the_same_value_hashes_differently_each_time():
    first, second = stored(("X-A", "same-value-here")), stored(("X-A", "same-value-here"))

    assert first["headers"][0]["valueHash"] != second["headers"][0]["valueHash"]


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("abc", ""),  # a short value shows nothing
        ("abcdefgh", "ab"),  # never more than a quarter
        ("tok_live_9f8e7d6c5b4a3210", "tok_li"),  # at most six characters
    ],
)
def test_the_prefix_never_shows_a_short_value_whole(value, prefix):
    assert value_prefix(value) == prefix
    assert stored(("X-A", value))["headers"][0]["valuePrefix"] == prefix


def test_keep_existing_keeps_the_stored_entry_of_that_name():
    before = stored(("X-Token", "old-secret-value"), ("X-Env", "production"))

    after = store_authentication(
        {
            "headers": [
                {"name": "x-token", "keepExisting": True},  # names ignore case
                {"name": "X-New", "value": "brand-new-value"},
            ]
        },
        before,
    )

    kept = after["headers"][0]
    assert kept["name"] == "x-token"
    assert kept["valueHash"] == before["headers"][0]["valueHash"]
    assert [entry["name"] for entry in after["headers"]] == ["x-token", "X-New"]  # X-Env dropped


def test_a_header_without_a_value_keeps_its_stored_value_too():
    before = stored(("X-Token", "old-secret-value"))

    for entry in ({"name": "X-Token"}, {"name": "X-Token", "value": ""},
                  {"name": "X-Token", "valuePrefix": "ol", "keepExisting": True}):  # fmt: skip
        after = store_authentication({"headers": [entry]}, before)
        assert after["headers"][0]["valueHash"] == before["headers"][0]["valueHash"]


@pytest.mark.parametrize(
    ("given", "before", "message"),
    [
        (
            [{"name": "X-A", "value": "value-1"}, {"name": "X-Gone", "keepExisting": True}],
            None,
            "authentication.headers[1].keepExisting: the trigger has no stored value",
        ),
        (
            [{"name": "X-Gone", "keepExisting": True}],
            {"type": "bearer", "credentialReferenceId": "c"},
            "authentication.headers[0].keepExisting: the trigger has no stored value",
        ),
        ([{"name": "X-A"}], None, "authentication.headers[0].value: the trigger has no stored"),
        (
            [{"name": "X-A", "value": "new-value", "keepExisting": True}],
            None,
            "authentication.headers[0]: give either a value or keepExisting",
        ),
        ([{"name": "X-A", "keepExisting": "yes"}], None, "authentication.headers[0].keepExisting"),
        ([{"name": "X A", "value": "v"}], None, "authentication.headers[0].name: 'X A' is not"),
        ([{"name": "", "value": "v"}], None, "authentication.headers[0].name: is required"),
        ([{"value": "v"}], None, "authentication.headers[0].name: is required"),
        (
            [{"name": "X-A", "value": "one-value"}, {"name": "x-a", "value": "another"}],
            None,
            "authentication.headers[1].name: 'x-a' is listed twice",
        ),
        ([{"name": "X-A", "value": 5}], None, "authentication.headers[0].value: must be a non-"),
        ([{"name": "X-A", "value": " padded"}], None, "authentication.headers[0].value: must be"),
        ([{"name": "X-A", "value": "a\r\nb"}], None, "authentication.headers[0].value: must be"),
        ([{"name": "X-A", "value": "x" * 4097}], None, "authentication.headers[0].value: at most"),
        ([{"name": "X-A", "valueHash": "scrypt$…"}], None, "authentication.headers[0].valueHash"),
        (["X-A"], None, "authentication.headers[0]: must be an object"),
        ([{"name": f"X-{i}", "value": "v"} for i in range(21)], None, "authentication.headers:"),
    ],
)
def test_store_refuses_what_it_cannot_store_naming_the_field(given, before, message):
    with pytest.raises(ValueError) as excinfo:
        store_authentication({"headers": given}, before)

    assert str(excinfo.value).startswith(message)
    assert "padded" not in str(excinfo.value)  # a value is never echoed


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("x", "authentication: must be an object"),
        ({"headers": {}}, "authentication.headers: must be a list"),
        ({"headers": [], "type": "none"}, "authentication.type: unknown field beside 'headers'"),
        ({"type": "oauth"}, "authentication.type: must be one of"),
    ],
)
def test_store_refuses_other_bad_shapes(given, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        store_authentication(given, None)


def test_no_headers_and_the_credential_shapes_pass_through():
    assert store_authentication(None, None) is None
    assert store_authentication({}, None) == {"headers": []}
    assert store_authentication({"headers": []}, stored(("X-A", "value-1"))) == {"headers": []}
    assert store_authentication(BEARER, None) == BEARER
    assert store_authentication({"type": "none"}, None) == {"type": "none"}


def test_shown_authentication_has_names_and_prefixes_only():
    value = "tok_live_9f8e7d6c5b4a"
    shown = shown_authentication(stored(("X-Token", value)))

    assert shown == {"headers": [{"name": "X-Token", "valuePrefix": "tok_l"}]}
    assert shown_authentication(None) is None
    assert shown_authentication({}) == {"headers": []}
    assert shown_authentication(BASIC) == BASIC


def test_a_stored_config_validates_and_a_clear_value_is_refused():
    config = stored(("X-Token", "value-12345"))

    assert validate_authentication_config(config) == config
    assert validate_authentication_config({}) == {"headers": []}
    with pytest.raises(ValueError, match=r"^authentication.headers\[0\].value: a header value is"):
        validate_authentication_config({"headers": [{"name": "X-Token", "value": "clear"}]})
    broken = {"headers": [{**config["headers"][0], "valueHash": "md5$abc"}]}
    with pytest.raises(ValueError, match=r"^authentication.headers\[0\].valueHash: must be"):
        validate_authentication_config(broken)
    costly = config["headers"][0]["valueHash"].replace("$16384$", "$1048576$")
    with pytest.raises(ValueError, match="valueHash"):
        validate_authentication_config({"headers": [{"name": "X-Token", "valueHash": costly}]})


@pytest.fixture(scope="module")
def headers_config():
    return stored(("X-Token", "tok-value-1"), ("X-Env", "production"))


def test_every_listed_header_with_its_value_passes(headers_config):
    check_authentication(
        headers_config, secret=None, headers={"x-token": "tok-value-1", "X-Env": "production"}
    )


@pytest.mark.parametrize(
    ("headers", "status", "code", "named"),
    [
        ({"X-Env": "production"}, 401, "missing_credentials", "X-Token"),
        ({"X-Token": "", "X-Env": "production"}, 401, "missing_credentials", "X-Token"),
        ({"X-Token": "tok-value-1"}, 401, "missing_credentials", "X-Env"),
        ({"X-Token": "tok-value-2", "X-Env": "production"}, 403, "invalid_credentials", "X-Token"),
        ({"X-Token": "tok-value-1", "X-Env": "staging"}, 403, "invalid_credentials", "X-Env"),
        ({"X-Token": "x" * 5000, "X-Env": "production"}, 403, "invalid_credentials", "X-Token"),
    ],
)
def test_a_missing_header_is_401_and_a_wrong_value_403(
    headers_config, headers, status, code, named
):
    with pytest.raises(WebhookRejected) as excinfo:
        check_authentication(headers_config, secret=None, headers=headers)

    rejected = excinfo.value
    assert (rejected.status, rejected.code) == (status, code)
    assert isinstance(rejected, Forbidden if status == 403 else Unauthorized)
    assert named in rejected.detail
    assert "tok-value" not in rejected.detail


def test_no_headers_lets_every_request_through():
    check_authentication({"headers": []}, secret=None, headers={})
    check_authentication({}, secret=None, headers={})


def test_a_verified_value_costs_one_hash_per_process(headers_config, scrypt_calls):
    config = headers_config
    good = {"X-Token": "tok-value-1", "X-Env": "production"}

    for _ in range(3):
        check_authentication(config, secret=None, headers=good)
    assert len(scrypt_calls) == 2  # one per header, then remembered

    for _ in range(3):
        with pytest.raises(Forbidden):
            check_authentication(config, secret=None, headers={**good, "X-Env": "staging"})
    assert len(scrypt_calls) == 3  # the wrong value once; the right one stays remembered


def test_the_cache_is_keyed_by_the_stored_hash(scrypt_calls):
    first, second = stored(("X-A", "same-value-1")), stored(("X-A", "same-value-1"))

    check_authentication(first, secret=None, headers={"X-A": "same-value-1"})
    check_authentication(second, secret=None, headers={"X-A": "same-value-1"})

    # Two stored hashes (two salts): each verified once; a cached verdict of one is not
    # taken for the other.
    assert len(scrypt_calls) == 4  # two when storing, two when verifying


def test_a_flood_of_wrong_values_does_not_evict_the_right_one(scrypt_calls):
    config = stored(("X-A", "right-value"))
    check_authentication(config, secret=None, headers={"X-A": "right-value"})
    hashed = len(scrypt_calls)

    from webhooks import authentication

    for i in range(300):  # more than the refusals' LRU holds
        authentication._refused.add((config["headers"][0]["valueHash"], bytes([i % 256]) * 32))
    check_authentication(config, secret=None, headers={"X-A": "right-value"})

    assert len(scrypt_calls) == hashed


def test_the_header_names_a_config_authenticates_with(headers_config):
    assert authentication_header_names(headers_config) == {"x-token", "x-env"}
    assert authentication_header_names(
        validate_authentication_config({**API_KEY, "header": "X-Token"})
    ) == {"x-token"}
    assert authentication_header_names(validate_authentication_config(BEARER)) == frozenset()
