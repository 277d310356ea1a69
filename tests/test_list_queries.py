"""Every list answers with the same number of queries for 1 row and for 50: no query per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import AlertEpisode
from executions.models import Execution
from triggers.models import Trigger

MANAGE = "/manage/tenants/acme/projects/support/agents/triage/triggers"


def queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.fixture
def fifty_of_each(alice_client, acme, make_trigger, acme_agent):
    cron = make_trigger(acme, "cron", agent=acme_agent, project=acme_agent.project)
    alice_client.post(MANAGE, {"id": "hook", "name": "hook"}, format="json")
    alice_client.put(
        "/agents/triage/triggers",
        {"triggers": [{"trigger_id": "cron", "config": {"schedule": f"{n} 9 * * *"}}
                      for n in range(50)]},
        format="json",
    )  # fmt: skip
    hook = Trigger.objects.get(public_id="hook")
    for n in range(50):
        make_trigger(acme, "cron", name=f"t{n}")
        for trigger in (cron, hook):
            Execution.objects.create(tenant=acme, trigger=trigger, execution_type="scheduled")
        AlertEpisode.objects.create(
            tenant=acme, event="trigger_failed", subject=f"trigger:{n}", subject_label=f"t{n}",
            admin_path="/admin/", summary="Frozen", opened_at=timezone.now(),
        )  # fmt: skip
    return {"cron": cron.pk}


@pytest.mark.parametrize(
    "path",
    [
        "/api/triggers?limit={n}",
        "/api/triggers/{cron}/executions?limit={n}",
        "/api/executions?limit={n}",
        "/triggers?limit={n}",
        MANAGE + "?limit={n}",
        MANAGE + "/hook/invocations?limit={n}",
        MANAGE + "/hook/invocations?status=pending&limit={n}",
        "/api/alert-episodes?limit={n}",
    ],
)
def test_a_list_costs_the_same_queries_for_1_row_and_50(alice_client, fifty_of_each, path):
    one = queries(alice_client, path.format(n=1, **fifty_of_each))
    fifty = queries(alice_client, path.format(n=min(50, 100), **fifty_of_each))

    assert one == fifty
