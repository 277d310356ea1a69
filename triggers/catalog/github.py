"""GitHub: webhooks signed with X-Hub-Signature-256, one type per event and action."""

from triggers.catalog.entry import AccountKey, Condition, TriggerType, string_property, value_at
from triggers.choices import Delivery

_INSTRUCTIONS = (
    "In the repository's Settings > Webhooks, add this trigger's URL (/v1/webhooks/<trigger "
    "id>) with content type application/json and a secret; store the secret as the trigger's "
    "connection."
)
_SCHEMA = {
    "type": "object",
    "properties": {
        "repository": string_property(
            "Repository", "Only this repository's events (owner/name); any when absent.",
            examples=["octo-org/octo-repo"],
        ),
    },
    "additionalProperties": False,
}  # fmt: skip


def _owner(body) -> str | None:
    """The GitHub account an event is about: the repository's owner, else the organisation or
    the installation's account (events without a repository); logins are case-insensitive."""
    full_name = value_at(body, "repository.full_name")
    login = full_name.split("/", 1)[0] if isinstance(full_name, str) else None
    login = (
        login
        or value_at(body, "organization.login")
        or value_at(body, "installation.account.login")
    )
    return login.lower() if isinstance(login, str) and login else None


# An account (the owner of the repositories) belongs to one tenant, as a Slack workspace does.
ACCOUNT = AccountKey(
    "GitHub account", "repository",
    of_event=_owner,
    of_config=lambda repository: repository.split("/", 1)[0].lower() or None,
)  # fmt: skip
_REPOSITORY = Condition("body", "repository.full_name", config_key="repository")


def _event(trigger_id, name, description, conditions, sample) -> TriggerType:
    return TriggerType(
        "github", trigger_id, name, description, Delivery.WEBHOOK,
        instructions=_INSTRUCTIONS, icon="github", tags=("code", "github"),
        config_schema=_SCHEMA, event=(*conditions, _REPOSITORY), signature_preset="github",
        sample_payload={**sample, "repository": {"full_name": "octo-org/octo-repo"}},
    )  # fmt: skip


ON_PUSH = _event(
    "on_push", "Push", "Fires when commits are pushed.",
    (Condition("header", "X-GitHub-Event", "push"),),
    {"ref": "refs/heads/main", "commits": [{"id": "6dcb09b", "message": "Fix all the bugs"}]},
)  # fmt: skip
ON_ISSUE_OPENED = _event(
    "on_issue_opened", "Issue opened", "Fires when an issue is opened.",
    (Condition("header", "X-GitHub-Event", "issues"), Condition("body", "action", "opened")),
    {"action": "opened", "issue": {"number": 1347, "title": "Found a bug"}},
)  # fmt: skip
ON_PULL_REQUEST_OPENED = _event(
    "on_pull_request_opened", "Pull request opened", "Fires when a pull request is opened.",
    (Condition("header", "X-GitHub-Event", "pull_request"),
     Condition("body", "action", "opened")),
    {"action": "opened", "pull_request": {"number": 2, "title": "Update the README"}},
)  # fmt: skip

ENTRIES = (ON_PUSH, ON_ISSUE_OPENED, ON_PULL_REQUEST_OPENED)
