"""Generic signature verification: config validation and every rule of verify_signature."""

import base64
import hashlib
import hmac
import json
import unicodedata

import pytest
from django.test import RequestFactory

from api.errors import PROBLEM_ERRORS
from webhooks.errors import BadRequest, Unauthorized, WebhookRejected
from webhooks.signatures import validate_signature_config, verify_signature

SECRET = b"s3cret"
NOW = 1_700_000_000.0


def body_config(**overrides):
    """HMAC-SHA256, hex, of the raw body, in header X-Signature."""
    config = {
        "algorithm": "sha256",
        "encoding": "hex",
        "signature": {"source": "header", "key": "X-Signature"},
        "signedComponents": [{"source": "body"}],
    }
    config.update(overrides)
    return config


def sign(message: bytes, secret: bytes = SECRET, algorithm=hashlib.sha256) -> bytes:
    return hmac.new(secret, message, algorithm).digest()


def verify(config, *, headers=None, query=None, body=b"{}", secrets=(SECRET,), now=NOW, **kw):
    verify_signature(
        config,
        secrets=list(secrets),
        headers=headers or {},
        query=query or {},
        body=body,
        now=now,
        **kw,
    )


# --- validate_signature_config -------------------------------------------------------------


def test_it_fills_defaults():
    config = validate_signature_config(body_config())

    assert config["componentJoin"] == {"strategy": "concatenate", "separator": ""}
    assert config["validation"] == {
        "allowEmptyBody": True,
        "headerCaseSensitive": False,
        "normalizeUnicode": False,
    }
    assert config["signature"] == {
        "source": "header",
        "key": "X-Signature",
        "prefix": None,
        "regex": None,
    }
    assert config["signedComponents"] == [
        {"source": "body", "key": None, "value": None, "regex": None, "required": True}
    ]
    assert config["timestamp"] is None


def test_it_is_idempotent_on_a_normalised_config():
    config = validate_signature_config(body_config())

    assert validate_signature_config(config) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"algorithm": "sha3_256"}, "signatureVerification.algorithm: must be one of"),
        ({"encoding": "base32"}, "signatureVerification.encoding: must be one of"),
        (
            {"signature": {"source": "cookie", "key": "x"}},
            "signatureVerification.signature.source: must be one of",
        ),
        ({"signature": {"source": "header"}}, "signatureVerification.signature.key: is required"),
        (
            {"signature": {"source": "header", "key": "X", "regex": "(unclosed"}},
            "signatureVerification.signature.regex: invalid regular expression",
        ),
        (
            {"signature": {"source": "header", "key": "X", "regex": "v1=(?=[0-9a-f])(\\w+)"}},
            "signatureVerification.signature.regex: invalid regular expression: "
            "invalid perl operator: (?=",
        ),
        (
            {"timestamp": {"source": "header", "key": "T", "regex": "(\\d)\\1"}},
            "signatureVerification.timestamp.regex: invalid regular expression: "
            "invalid escape sequence: \\1",
        ),
        (
            {"signature": {"source": "header", "key": "X", "regex": "(a)(b)"}},
            "signatureVerification.signature.regex: must have at most one capturing group",
        ),
        ({"signedComponents": []}, "signatureVerification.signedComponents: must be a non-empty"),
        (
            {"signedComponents": [{"source": "body"}, {"source": "header", "regex": "x"}]},
            "signatureVerification.signedComponents[1].key: is required",
        ),
        (
            {"signedComponents": [{"source": "body"}, {"source": "body", "regex": "[z-a]"}]},
            "signatureVerification.signedComponents[1].regex: invalid regular expression",
        ),
        (
            {"signedComponents": [{"source": "literal"}]},
            "signatureVerification.signedComponents[0].value: is required",
        ),
        (
            {"signedComponents": [{"source": "env", "key": "x"}]},
            "signatureVerification.signedComponents[0].source: must be one of",
        ),
        (
            {"signedComponents": [{"source": "body", "required": "yes"}]},
            "signatureVerification.signedComponents[0].required: must be true or false",
        ),
        (
            {"componentJoin": {"strategy": "hash"}},
            "signatureVerification.componentJoin.strategy: must be one of",
        ),
        (
            {"componentJoin": {"separator": 1}},
            "signatureVerification.componentJoin.separator: must be a string",
        ),
        (
            {"validation": {"allowEmptyBody": "no"}},
            "signatureVerification.validation.allowEmptyBody: must be true or false",
        ),
        ({"validation": {"strict": True}}, "signatureVerification.validation.strict: unknown"),
        ({"algorithms": "sha256"}, "signatureVerification.algorithms: unknown field"),
        (
            {"timestamp": {"source": "header", "key": "T", "format": "rfc822"}},
            "signatureVerification.timestamp.format: must be one of",
        ),
        ({"timestamp": {"source": "header"}}, "signatureVerification.timestamp.key: is required"),
    ],
)
def test_it_rejects_bad_config_naming_the_field(overrides, message):
    with pytest.raises(ValueError) as excinfo:
        validate_signature_config(body_config(**overrides))

    assert str(excinfo.value).startswith(message)


def test_it_rejects_a_config_that_is_not_an_object():
    with pytest.raises(ValueError, match=r"^signatureVerification: must be an object"):
        validate_signature_config("sha256")


# --- verify_signature: the signature -------------------------------------------------------


def test_it_accepts_a_valid_hex_signature():
    body = b'{"a": 1}'

    verify(body_config(), headers={"X-Signature": sign(body).hex()}, body=body)


def test_it_accepts_uppercase_hex():
    body = b'{"a": 1}'

    verify(body_config(), headers={"X-Signature": sign(body).hex().upper()}, body=body)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512", "md5"])
def test_it_supports_each_algorithm_in_base64(algorithm):
    body = b"payload"
    signature = base64.b64encode(sign(body, algorithm=getattr(hashlib, algorithm))).decode()
    config = body_config(algorithm=algorithm, encoding="base64")

    verify(config, headers={"X-Signature": signature}, body=body)
    with pytest.raises(Unauthorized):
        # Same digest, other algorithm configured: must not pass.
        other = "sha512" if algorithm != "sha512" else "sha1"
        verify(
            body_config(algorithm=other, encoding="base64"),
            headers={"X-Signature": signature},
            body=body,
        )


def test_it_rejects_a_mismatch_with_401():
    body = b'{"a": 1}'

    with pytest.raises(Unauthorized) as excinfo:
        verify(body_config(), headers={"X-Signature": sign(b'{"a": 2}').hex()}, body=body)

    assert excinfo.value.status == 401
    assert excinfo.value.code == "invalid_signature"


def test_it_rejects_a_missing_signature_with_401():
    with pytest.raises(Unauthorized) as excinfo:
        verify(body_config(), headers={})

    assert excinfo.value.status == 401
    assert excinfo.value.code == "missing_signature"
    assert "X-Signature" in excinfo.value.detail


def test_it_ignores_undecodable_candidates():
    with pytest.raises(Unauthorized) as excinfo:
        verify(body_config(), headers={"X-Signature": "not-hex!"})

    assert excinfo.value.code == "invalid_signature"


def test_it_looks_headers_up_case_insensitively_by_default():
    body = b"x"

    verify(body_config(), headers={"x-signature": sign(body).hex()}, body=body)


def test_it_honours_header_case_sensitivity():
    body = b"x"
    config = body_config(validation={"headerCaseSensitive": True})

    verify(config, headers={"X-Signature": sign(body).hex()}, body=body)
    with pytest.raises(Unauthorized) as excinfo:
        verify(config, headers={"x-signature": sign(body).hex()}, body=body)
    assert excinfo.value.code == "missing_signature"


def test_it_strips_the_prefix_when_present_and_keeps_a_value_without_it():
    # Behaviour changed by issue 14: a value without the prefix is kept as is (it used to be
    # ignored), as the management API's reference system reads it.
    body = b"x"
    config = body_config(signature={"source": "header", "key": "X-Signature", "prefix": "sha256="})

    verify(config, headers={"X-Signature": "sha256=" + sign(body).hex()}, body=body)
    verify(config, headers={"X-Signature": sign(body).hex()}, body=body)
    with pytest.raises(Unauthorized) as excinfo:
        # Another prefix is not stripped, and "sha512=…" is not hex.
        verify(config, headers={"X-Signature": "sha512=" + sign(body).hex()}, body=body)
    assert excinfo.value.code == "invalid_signature"


def test_the_prefix_is_stripped_before_the_regex_runs():
    body = b"x"
    config = body_config(
        signature={"source": "header", "key": "X-Signature", "prefix": "sig:", "regex": r"^(\w+)"}
    )

    # The regex anchors at the start of what is left once the prefix is gone.
    verify(config, headers={"X-Signature": f"sig:{sign(body).hex()};v=1"}, body=body)
    verify(config, headers={"X-Signature": f"{sign(body).hex()};v=1"}, body=body)


def test_it_reads_the_signature_from_the_query_string():
    body = b"x"
    config = body_config(signature={"source": "query", "key": "sig"})

    verify(config, query={"sig": sign(body).hex()}, body=body)
    verify(config, query={"sig": [sign(body).hex(), "ignored"]}, body=body)


def test_it_reads_the_signature_from_a_json_body_field():
    # The signed part is another field, so the signature can live in the same body.
    body = b'{"data": {"n": 1}, "meta": {"sig": "%s"}}'
    signature = sign(b"1").hex().encode()
    config = body_config(
        signature={"source": "body", "key": "meta.sig"},
        signedComponents=[{"source": "body", "key": "data.n"}],
    )

    verify(config, body=body.replace(b"%s", signature))


def test_the_body_signature_key_is_a_jmespath_expression():
    body = b'{"sigs": [{"v": 0, "s": "bad"}, {"v": 1, "s": "%s"}], "data": "x"}'
    signature = sign(b"x").hex().encode()
    config = body_config(
        signature={"source": "body", "key": "sigs[?v == `1`].s | [0]"},
        signedComponents=[{"source": "body", "key": "data"}],
    )

    verify(config, body=body.replace(b"%s", signature))
    with pytest.raises(Unauthorized) as excinfo:
        verify(config, body=b'{"sigs": [], "data": "x"}')
    assert excinfo.value.code == "missing_signature"


def test_a_body_signature_on_a_body_that_is_not_json_is_missing():
    config = body_config(signature={"source": "body", "key": "sig"})

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, body=b"not json")
    assert excinfo.value.code == "missing_signature"


@pytest.mark.parametrize("where", ["signature", "signedComponents[0]", "timestamp"])
def test_an_invalid_body_jmespath_is_refused_naming_the_field(where):
    spec = {"source": "body", "key": "items[?"}
    if where == "signature":
        config = body_config(signature=spec)
    elif where == "timestamp":
        config = body_config(timestamp=spec)
    else:
        config = body_config(signedComponents=[spec])

    with pytest.raises(ValueError) as excinfo:
        validate_signature_config(config)

    assert str(excinfo.value).startswith(
        f"signatureVerification.{where}.key: invalid JMESPath expression"
    )


def test_a_header_key_is_a_name_not_a_jmespath_expression():
    # Only body keys are JMESPath; a header name may hold anything a header name can.
    config = body_config(signature={"source": "header", "key": "X-Sig[?"})

    verify(config, headers={"X-Sig[?": sign(b"{}").hex()})


def test_any_of_several_signatures_in_one_header_passes():
    body = b"x"
    config = body_config(signature={"source": "header", "key": "X-Signature", "regex": r"v1=(\w+)"})
    header = f"v1={sign(body, b'old').hex()}, v1={sign(body).hex()}"

    verify(config, headers={"X-Signature": header}, body=body)
    with pytest.raises(Unauthorized):
        verify(config, headers={"X-Signature": header}, body=body, secrets=[b"other"])


def test_any_of_several_secrets_passes():
    body = b"x"
    headers = {"X-Signature": sign(body, b"new").hex()}

    verify(body_config(), headers=headers, body=body, secrets=[b"old", b"new"])
    with pytest.raises(Unauthorized):
        verify(body_config(), headers=headers, body=body, secrets=[b"old"])


def test_it_refuses_to_run_without_secrets():
    with pytest.raises(ValueError, match="at least one secret"):
        verify(body_config(), headers={"X-Signature": "00"}, secrets=[])


# --- verify_signature: the signed message --------------------------------------------------


def test_empty_body_is_a_bad_request_when_not_allowed():
    config = body_config(validation={"allowEmptyBody": False})

    with pytest.raises(BadRequest) as excinfo:
        verify(config, headers={"X-Signature": sign(b"").hex()}, body=b"")

    assert excinfo.value.status == 400
    assert excinfo.value.code == "empty_body"


def test_an_empty_joined_string_is_refused_even_with_a_body():
    # allowEmptyBody looks at what would be signed, not at the body itself.
    config = body_config(
        signedComponents=[{"source": "header", "key": "X-Id", "required": False}],
        validation={"allowEmptyBody": False},
    )

    with pytest.raises(BadRequest) as excinfo:
        verify(config, headers={"X-Signature": sign(b"").hex()}, body=b'{"a": 1}')
    assert (excinfo.value.status, excinfo.value.code) == (400, "empty_body")
    verify(config, headers={"X-Id": "1", "X-Signature": sign(b"1").hex()}, body=b'{"a": 1}')


def test_an_empty_body_passes_when_the_joined_string_is_not_empty():
    config = body_config(
        signedComponents=[{"source": "literal", "value": "v0"}, {"source": "body"}],
        componentJoin={"separator": ":"},
        validation={"allowEmptyBody": False},
    )

    verify(config, headers={"X-Signature": sign(b"v0:").hex()}, body=b"")


def test_a_missing_signature_is_reported_before_an_empty_joined_string():
    config = body_config(validation={"allowEmptyBody": False})

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, body=b"")
    assert excinfo.value.code == "missing_signature"


def test_empty_body_is_signed_like_any_other_when_allowed():
    verify(body_config(), headers={"X-Signature": sign(b"").hex()}, body=b"")


def test_it_joins_components_with_the_separator():
    body = b"payload"
    config = body_config(
        signedComponents=[
            {"source": "literal", "value": "v0"},
            {"source": "header", "key": "X-Id"},
            {"source": "query", "key": "q"},
            {"source": "body"},
        ],
        componentJoin={"strategy": "concatenate", "separator": "|"},
    )
    headers = {"X-Id": "42", "X-Signature": sign(b"v0|42|abc|payload").hex()}

    verify(config, headers=headers, query={"q": "abc"}, body=body)
    with pytest.raises(Unauthorized):
        verify(config, headers=headers, query={"q": "abd"}, body=body)


@pytest.mark.parametrize(
    ("key", "signed"),
    [
        ("event.name", "café"),  # a string as is
        ("event.count", "5"),  # anything else as compact JSON
        ("event.ok", "true"),
        ("event.tags", '["a","é"]'),
        ("event", '{"name":"café","count":5,"ok":true,"tags":["a","é"]}'),
        ("event.tags[1]", "é"),
    ],
)
def test_a_body_component_with_a_key_is_the_text_its_jmespath_finds(key, signed):
    body = '{"event": {"name": "café", "count": 5, "ok": true, "tags": ["a", "é"]}}'.encode()
    config = body_config(signedComponents=[{"source": "body", "key": key}])

    verify(config, headers={"X-Signature": sign(signed.encode()).hex()}, body=body)


@pytest.mark.parametrize("body", [b'{"event": {"name": null}}', b"{}", b"not json"])
def test_a_body_component_whose_path_finds_nothing_is_missing(body):
    config = body_config(signedComponents=[{"source": "body", "key": "event.name"}])

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, headers={"X-Signature": sign(b"").hex()}, body=body)
    assert excinfo.value.code == "missing_signed_component"

    optional = body_config(
        signedComponents=[
            {"source": "body", "key": "event.name", "required": False},
            {"source": "literal", "value": "z"},
        ],
        componentJoin={"separator": "|"},
    )
    verify(optional, headers={"X-Signature": sign(b"|z").hex()}, body=body)


def test_a_body_component_regex_narrows_the_text_of_its_path():
    body = b'{"meta": {"stamp": "t=1700000000;x=1"}}'
    config = body_config(
        signedComponents=[{"source": "body", "key": "meta.stamp", "regex": r"t=(\d+)"}]
    )

    verify(config, headers={"X-Signature": sign(b"1700000000").hex()}, body=body)


def test_a_missing_required_component_is_401():
    config = body_config(signedComponents=[{"source": "header", "key": "X-Id"}, {"source": "body"}])

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, headers={"X-Signature": sign(b"x").hex()}, body=b"x")

    assert excinfo.value.code == "missing_signed_component"
    assert "X-Id" in excinfo.value.detail


def test_a_missing_optional_component_is_empty_and_keeps_its_separator():
    # Behaviour changed by issue 14: it used to be left out of the join with its separator.
    config = body_config(
        signedComponents=[
            {"source": "header", "key": "X-Id", "required": False},
            {"source": "body"},
        ],
        componentJoin={"separator": "."},
    )

    verify(config, headers={"X-Signature": sign(b".x").hex()}, body=b"x")
    verify(config, headers={"X-Id": "7", "X-Signature": sign(b"7.x").hex()}, body=b"x")
    with pytest.raises(Unauthorized):
        verify(config, headers={"X-Signature": sign(b"x").hex()}, body=b"x")


def test_a_missing_optional_component_in_the_middle_leaves_two_separators():
    config = body_config(
        signedComponents=[
            {"source": "literal", "value": "a"},
            {"source": "query", "key": "missing", "required": False},
            {"source": "header", "key": "X-Id", "regex": r"id=(\d+)", "required": False},
            {"source": "literal", "value": "c"},
        ],
        componentJoin={"separator": ":"},
    )

    # The header is there but its regex does not match: missing too, so "".
    verify(config, headers={"X-Id": "none", "X-Signature": sign(b"a:::c").hex()})


def test_a_component_regex_extracts_its_group():
    config = body_config(
        signedComponents=[
            {"source": "header", "key": "Sig-Header", "regex": r"t=(\d+)"},
            {"source": "body"},
        ],
        componentJoin={"separator": "."},
    )
    headers = {"Sig-Header": "t=123,v1=abc", "X-Signature": sign(b"123.x").hex()}

    verify(config, headers=headers, body=b"x")


def test_a_component_regex_that_does_not_match_is_a_missing_component():
    config = body_config(
        signedComponents=[{"source": "header", "key": "Sig-Header", "regex": r"t=(\d+)"}],
    )

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, headers={"Sig-Header": "v1=abc", "X-Signature": sign(b"").hex()})

    assert excinfo.value.code == "missing_signed_component"


def test_a_body_regex_matches_the_raw_bytes_around_bytes_that_are_not_utf8():
    body = b"\xff\xfe-id=9-\xc3\xa9"
    config = body_config(signedComponents=[{"source": "body", "regex": "-id=\\d-é"}])

    verify(config, headers={"X-Signature": sign("-id=9-é".encode()).hex()}, body=body)


def test_a_body_regex_that_does_not_match_is_a_missing_component():
    config = body_config(signedComponents=[{"source": "body", "regex": "id=(\\d+)"}])

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, headers={"X-Signature": sign(b"").hex()}, body=b"\xff no id")

    assert excinfo.value.code == "missing_signed_component"


@pytest.mark.parametrize(
    ("where", "spec"),
    [
        ("signature", {"source": "header", "key": "X-Signature", "regex": "(a+)+$"}),
        ("component", {"source": "header", "key": "X-Signature", "regex": "(a+)+$"}),
        ("component", {"source": "body", "regex": "(a+)+$"}),
    ],
)
def test_a_backtracking_pattern_takes_linear_time_on_a_crafted_request(where, spec):
    # With Python's re, `(a+)+$` against 40 "a"s and a "!" takes about 2**40 steps; RE2 answers
    # at once, and the missing match is an ordinary 401.
    crafted = "a" * 40 + "!"
    if where == "signature":
        config = body_config(signature=spec)
    else:
        config = body_config(signedComponents=[spec])

    with pytest.raises(Unauthorized):
        verify(config, headers={"X-Signature": crafted}, body=crafted.encode())


def test_normalize_unicode_signs_the_nfc_form_of_string_components():
    decomposed = unicodedata.normalize("NFD", "café")
    composed = unicodedata.normalize("NFC", "café")
    assert decomposed != composed
    config = body_config(signedComponents=[{"source": "header", "key": "X-Name"}])
    headers = {"X-Name": decomposed, "X-Signature": sign(composed.encode()).hex()}

    with pytest.raises(Unauthorized):
        verify(config, headers=headers)
    verify({**config, "validation": {"normalizeUnicode": True}}, headers=headers)


def test_normalize_unicode_applies_to_the_text_of_a_body_path():
    decomposed = unicodedata.normalize("NFD", "café")
    composed = unicodedata.normalize("NFC", "café")
    body = json.dumps({"name": decomposed}).encode()
    config = body_config(
        signedComponents=[{"source": "body", "key": "name"}],
        validation={"normalizeUnicode": True},
    )

    verify(config, headers={"X-Signature": sign(composed.encode()).hex()}, body=body)


def test_normalize_unicode_never_alters_the_body():
    body = unicodedata.normalize("NFD", "café").encode()
    config = body_config(validation={"normalizeUnicode": True})

    verify(config, headers={"X-Signature": sign(body).hex()}, body=body)


# --- verify_signature: timestamps ----------------------------------------------------------


def timestamped_config(fmt="unix"):
    return body_config(
        signedComponents=[{"source": "header", "key": "X-Timestamp"}, {"source": "body"}],
        componentJoin={"separator": "."},
        timestamp={"source": "header", "key": "X-Timestamp", "format": fmt},
    )


def timestamped_headers(timestamp: str, body: bytes = b"x") -> dict[str, str]:
    message = timestamp.encode() + b"." + body
    return {"X-Timestamp": timestamp, "X-Signature": sign(message).hex()}


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_it_accepts_a_timestamp_inside_the_window(offset):
    verify(timestamped_config(), headers=timestamped_headers(str(int(NOW) + offset)), body=b"x")


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_it_rejects_a_timestamp_outside_the_window(offset):
    headers = timestamped_headers(str(int(NOW) + offset))

    with pytest.raises(Unauthorized) as excinfo:
        verify(timestamped_config(), headers=headers, body=b"x")

    assert excinfo.value.status == 401
    assert excinfo.value.code == "stale_timestamp"
    assert "outside the tolerance window" in excinfo.value.detail


def test_the_tolerance_is_a_parameter():
    headers = timestamped_headers(str(int(NOW) - 100))

    with pytest.raises(Unauthorized, match="tolerance window of 60 seconds"):
        verify(timestamped_config(), headers=headers, body=b"x", tolerance_seconds=60)


@pytest.mark.parametrize("timestamp", ["soon", "nan", "inf", ""])
def test_it_rejects_a_timestamp_that_is_not_a_number(timestamp):
    with pytest.raises(Unauthorized) as excinfo:
        verify(timestamped_config(), headers=timestamped_headers(timestamp), body=b"x")

    # "nan" and "inf" parse as floats but must never count as inside the window.
    assert excinfo.value.code == "invalid_timestamp"


def test_it_rejects_a_missing_timestamp():
    config = body_config(timestamp={"source": "header", "key": "X-Timestamp"})

    with pytest.raises(Unauthorized) as excinfo:
        verify(config, headers={"X-Signature": sign(b"x").hex()}, body=b"x")

    assert excinfo.value.code == "missing_timestamp"


def test_it_reads_iso8601_timestamps():
    fresh = timestamped_headers("2023-11-14T22:13:20Z")  # == NOW
    stale = timestamped_headers("2023-11-14T21:13:20+00:00")

    verify(timestamped_config("iso8601"), headers=fresh, body=b"x")
    with pytest.raises(Unauthorized, match="tolerance window"):
        verify(timestamped_config("iso8601"), headers=stale, body=b"x")


def test_it_rejects_iso8601_timestamps_without_a_timezone():
    headers = timestamped_headers("2023-11-14T22:13:20")

    with pytest.raises(Unauthorized) as excinfo:
        verify(timestamped_config("iso8601"), headers=headers, body=b"x")

    assert excinfo.value.code == "invalid_timestamp"


def test_a_bad_signature_is_reported_before_a_stale_timestamp():
    headers = timestamped_headers(str(int(NOW) - 3600))
    headers["X-Signature"] = "00" * 32

    with pytest.raises(Unauthorized) as excinfo:
        verify(timestamped_config(), headers=headers, body=b"x")

    assert excinfo.value.code == "invalid_signature"


# --- errors --------------------------------------------------------------------------------


def _problem(rejection: WebhookRejected) -> dict:
    request = RequestFactory().post("/hooks/abc", HTTP_X_REQUEST_ID="req_1")
    return PROBLEM_ERRORS.body(rejection.api_error(), request)


def test_a_rejection_renders_as_a_problem():
    rejection = Unauthorized("Signature does not match.", code="invalid_signature")

    assert isinstance(rejection, WebhookRejected)
    assert _problem(rejection) == {
        "title": "Unauthorized",
        "status": 401,
        "detail": "Signature does not match.",
        "code": "invalid_signature",
        "error": {"code": "invalid_signature", "message": "Signature does not match."},
        "instance": "/hooks/abc",
        "requestId": "req_1",
    }


def test_a_rejection_with_errors_lists_them():
    rejection = BadRequest("Bad.", errors=[{"path": "/a", "message": "m"}])

    assert _problem(rejection)["errors"] == [{"path": "/a", "message": "m"}]
    assert _problem(rejection)["code"] == "bad_request"
