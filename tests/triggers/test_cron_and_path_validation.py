"""Settings refused when saved rather than failing later (issue 19, findings 3 and 7): a cron
with no fire time in the next FIRES_WITHIN_YEARS years, and a custom webhook path with a
'.' or '..' segment; a custom path is kept without a trailing slash."""

import pytest
from django.core.exceptions import ValidationError

from triggers.schedule import FIRES_WITHIN_YEARS, validate_cron_expression
from triggers.services import trigger_create


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 6,9,11 *", "0 0 30,31 2 *"])
def test_a_cron_that_never_fires_is_refused(cron):
    with pytest.raises(ValueError, match=f"never fires in the next {FIRES_WITHIN_YEARS} years"):
        validate_cron_expression(cron)


@pytest.mark.parametrize("cron", ["0 0 29 2 *", "0 0 31 * *", "0 9 * * 1-5", "@yearly"])
def test_a_rare_cron_that_fires_is_kept(cron):
    assert validate_cron_expression(cron) == cron


def test_the_agent_api_names_the_field(alice_client, acme_agent):
    triggers = [{"trigger_id": "cron", "config": {"schedule": "0 0 30 2 *"}}]

    response = alice_client.put("/agents/triage/triggers", {"triggers": triggers}, format="json")

    assert response.status_code == 400
    assert "never fires" in response.content.decode()


@pytest.mark.parametrize("path", ["/a/../b", "/a/./b", "/..", "/webhook/.", "/x/.."])
def test_a_custom_path_with_a_dot_segment_is_refused(acme, alice, path):
    with pytest.raises(ValidationError) as refused:
        trigger_create(tenant=acme, provider_trigger_id="webhook", name="h", created_by=alice,
                       webhook_path=path)  # fmt: skip

    assert "'.' or '..' segment" in refused.value.message_dict["webhook_path"][0]


def test_dots_inside_a_segment_are_fine_and_a_trailing_slash_is_dropped(client, acme, alice):
    trigger = trigger_create(tenant=acme, provider_trigger_id="webhook", name="h",
                             created_by=alice, webhook_path="/v1.2/news.feed/")  # fmt: skip

    assert trigger.webhook_endpoint.path == "/v1.2/news.feed"
    response = client.post("/hooks/p/v1.2/news.feed", data=b"{}", content_type="application/json")
    assert response.status_code == 202
