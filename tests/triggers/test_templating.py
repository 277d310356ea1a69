"""messageTemplate rendering: paths, indexing, value formatting and validation."""

import pytest

from triggers.templating import (
    render_message_template,
    resolve_path,
    validate_message_template,
)

CONTEXT = {
    "body": {
        "action": "opened",
        "count": 3,
        "ratio": 0.5,
        "draft": False,
        "closed_at": None,
        "items": [{"name": "first"}, {"name": "second", "tags": ["a", "b"]}],
        "user": {"login": "alice", "display name": "Alice A."},
        "Title": "Case Matters",
        "emoji": "héllo 👋",
    },
    "headers": {"X-GitHub-Event": "pull_request"},
    "query": {"source": "ci"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ body.action }}", "opened"),
        ("{{body.action}}", "opened"),
        ("{{   body.action\t}}", "opened"),
        ("{{body.items[0].name}}", "first"),
        ("{{ body.items[-1].name }}", "second"),
        ("{{ body.items[1].tags[1] }}", "b"),
        ('{{ body.user["display name"] }}', "Alice A."),
        ("{{ query.source }}", "ci"),
        ("{{ body.emoji }}", "héllo 👋"),
    ],
)
def test_it_resolves_paths(template, expected):
    assert render_message_template(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ body.count }}", "3"),
        ("{{ body.ratio }}", "0.5"),
        ("{{ body.draft }}", "false"),
        ("{{ body.items[1].tags }}", '["a","b"]'),
        ("{{ body.user }}", '{"login":"alice","display name":"Alice A."}'),
        ("{{ body.emoji }}", "héllo 👋"),
    ],
)
def test_it_formats_values(template, expected):
    assert render_message_template(template, CONTEXT) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ body.missing }}",
        "{{ body.action.deeper }}",
        "{{ body.items[5].name }}",
        "{{ body.items.name }}",
        "{{ body.user[0] }}",
        "{{ body.action[0] }}",
        "{{ body.closed_at }}",
        "{{ nothing }}",
        "{{ body.title }}",
    ],
)
def test_missing_values_and_null_render_empty(template):
    assert render_message_template(f"[{template}]", CONTEXT) == "[]"


def test_header_names_match_case_insensitively():
    assert render_message_template("{{ headers.x-github-event }}", CONTEXT) == "pull_request"
    assert render_message_template("{{ headers.X-GITHUB-EVENT }}", CONTEXT) == "pull_request"


def test_body_keys_match_case_exactly():
    assert render_message_template("{{ body.Title }}", CONTEXT) == "Case Matters"
    assert render_message_template("{{ body.title }}", CONTEXT) == ""


def test_it_fills_a_sentence():
    template = "PR {{ body.action }} by {{ body.user.login }} ({{ headers.X-GitHub-Event }})"

    assert render_message_template(template, CONTEXT) == "PR opened by alice (pull_request)"


def test_single_braces_and_json_templates_are_literal():
    template = '{"text": "{{ body.action }}", "meta": {"n": {{ body.count }}}}'

    assert render_message_template(template, CONTEXT) == '{"text": "opened", "meta": {"n": 3}}'


def test_triple_braces_wrap_the_value_in_literal_braces():
    assert render_message_template("{{{ body.action }}}", CONTEXT) == "{opened}"


def test_placeholder_syntax_in_values_is_not_rendered_again():
    context = {"body": {"text": "{{ body.secret }}", "secret": "s3cret"}}

    assert render_message_template("{{ body.text }}", context) == "{{ body.secret }}"


def test_nothing_in_a_template_reaches_python_attributes():
    context = {"body": {"items": []}}

    assert render_message_template("{{ body.__class__ }}", context) == ""
    assert render_message_template("{{ body.items.append }}", context) == ""


@pytest.mark.parametrize(
    "template",
    [
        "{{ __import__('os').system('true') }}",
        "{{ body.action() }}",
        "{{ body.items[0 + 1] }}",
        "{{ body | upper }}",
        "{{ body..action }}",
        "{{ .body }}",
        "{{ 0.body }}",
        "{{ body[0 }}",
        "{{ body. action }}",
        "{{}}",
        "{{   }}",
        "{{ body.action }",
        "Hello {{ body.action",
        "{{ {{ body.action }} }}",
        "{{ body.{action} }}",
    ],
)
def test_it_rejects_bad_templates(template):
    with pytest.raises(ValueError):
        validate_message_template(template)
    with pytest.raises(ValueError):
        render_message_template(template, CONTEXT)


def test_an_unclosed_placeholder_is_reported_with_its_position():
    with pytest.raises(ValueError, match="position 6 is not closed"):
        validate_message_template("Hello {{ body.action")


def test_a_bad_path_is_reported_with_the_placeholder():
    with pytest.raises(ValueError, match=r"invalid placeholder \{\{ body\.\.action \}\}"):
        validate_message_template("{{ body..action }}")


def test_a_template_must_be_a_string():
    with pytest.raises(ValueError, match="must be a string"):
        validate_message_template(None)


@pytest.mark.parametrize(
    "template",
    [
        "plain text",
        "",
        "{{ body.a-b_c }}",
        '{{ body["a.b"][0] }}',
        "}} stray closers }}",
        "{ single }",
    ],
)
def test_it_accepts_good_templates(template):
    validate_message_template(template)


def test_resolve_path_walks_keys_and_indexes():
    assert resolve_path(CONTEXT, ["body", "items", 1, "tags", 0]) == "a"
    assert resolve_path(CONTEXT, ["body", "items", "0"]) is None
