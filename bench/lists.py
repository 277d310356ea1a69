"""Lists at scale: 100,000 triggers and 1,000,000 executions in one tenant, on PostgreSQL.

    .venv/bin/python bench/lists.py [--triggers 100000] [--executions 1000000] [--requests 60]

Fills the database ``bench_lists`` once (kept between runs; ``--rebuild`` starts over), then
times each list's first page and a deep page (offset 10,000, or page 201 of 50) through
Django's test client in this process: the server time of a request, from the URL to the
rendered body, authentication and every query included, the network not.

Side by side, in the same run, two baselines for each list:

- ``exact count``: the same request with LIST_EXACT_COUNT_LIMIT above the table's size, i.e.
  what a plain paginator's ``COUNT(*)`` costs (the behaviour before api/counting.py);
- ``bare page query``: the page's own SELECT alone, run through the ORM with no API around
  it — the floor any list endpoint stands on.

Prints p50 and p95 per list and page, and the number of queries of one request.
"""

import argparse
import statistics
import time

from _shared import django_setup, environment, percentile, prepare_kept_database, timed

DATABASE = "bench_lists"
MANAGE = "/manage/tenants/bench/projects/bench/agents/bench/triggers"


ENV = environment(DATABASE, broker="redis://127.0.0.1:6379/13", ALLOWED_HOSTS="testserver")


def fill(triggers: int, executions: int) -> None:
    """The API creates the management API's webhook trigger (so it is exactly what a client
    makes); bulk_create adds the cron triggers as trigger_create stores them; one INSERT …
    SELECT generate_series adds the executions: a third on the webhook trigger, a third on
    one cron trigger, the rest spread over all triggers; 4 % failed, 1 % cancelled."""
    from django.db import connection
    from rest_framework.test import APIClient

    from accounts.services import (
        agent_create,
        api_token_create,
        project_create,
        tenant_member_ensure,
    )
    from triggers.models import Trigger

    started = time.perf_counter()
    membership = tenant_member_ensure(username="bench", tenant_id="bench", role="owner")
    tenant = membership.tenant
    project = project_create(tenant=tenant, name="bench", public_id="bench")
    agent_create(tenant=tenant, project=project, name="bench", public_id="bench")
    _, token = api_token_create(membership=membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = client.post(MANAGE, {"id": "hook", "name": "hook"}, format="json")
    assert created.status_code == 201, created.content
    batch = []
    for i in range(triggers - 1):
        trigger = Trigger(
            tenant=tenant, name=f"bench {i}", provider_id="builtin", provider_trigger_id="cron",
            cron_expression=f"{i % 60} 9 * * *", timezone="UTC", status="inactive",
        )  # fmt: skip
        trigger.public_id = str(trigger.uuid)
        batch.append(trigger)
        if len(batch) == 10_000:
            Trigger.objects.bulk_create(batch)
            batch = []
    Trigger.objects.bulk_create(batch)
    ids = list(Trigger.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True))
    hook = Trigger.objects.get(public_id="hook").pk
    busy_cron = next(pk for pk in ids if pk != hook)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO executions_execution (
                execution_id, tenant_id, trigger_id, execution_type, is_test, status,
                request_payload, input_data, error_message, retry_count, max_retries,
                worker_id, conversation_id, available_at, started_at, completed_at,
                created_at, updated_at)
            SELECT gen_random_uuid(), %(tenant)s,
                   CASE WHEN n %% 3 = 0 THEN %(hook)s
                        WHEN n %% 3 = 1 THEN %(busy)s
                        ELSE (%(ids)s::bigint[])[1 + (n %% %(count)s)] END,
                   CASE WHEN n %% 3 = 0 THEN 'webhook' ELSE 'scheduled' END, false,
                   CASE WHEN n %% 100 < 4 THEN 'failed'
                        WHEN n %% 100 = 4 THEN 'cancelled' ELSE 'completed' END,
                   '{"n": 1}'::jsonb, '{"n": 1}'::jsonb,
                   CASE WHEN n %% 100 < 4 THEN 'agent runtime answered 503' ELSE '' END,
                   0, 3, '', '', at, at, at + interval '2 seconds', at, at
            FROM (SELECT n, now() - (n * interval '1 second') AS at
                  FROM generate_series(1, %(executions)s) AS n) AS series
            """,
            {"tenant": tenant.pk, "hook": hook, "busy": busy_cron, "ids": ids,
             "count": len(ids), "executions": executions},
        )  # fmt: skip
        cursor.execute("ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--triggers", type=int, default=100_000)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    must_fill = prepare_kept_database(DATABASE, ENV, rebuild=args.rebuild)
    django_setup(ENV)
    if must_fill:
        fill(args.triggers, args.executions)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings
    from rest_framework.test import APIClient

    from accounts.models import Membership
    from accounts.services import api_token_create
    from executions.models import Execution
    from triggers.models import Trigger

    membership = Membership.objects.get(user__username="bench")
    tenant = membership.tenant
    _, token = api_token_create(membership=membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    hook = Trigger.objects.get(public_id="hook")
    busy = (
        Execution.objects.filter(tenant=tenant, execution_type="scheduled")
        .values_list("trigger_id", flat=True)
        .first()
    )
    print(
        f"{Trigger.objects.filter(tenant=tenant).count():,} triggers, "
        f"{Execution.objects.filter(tenant=tenant).count():,} executions in one tenant; "
        f"trigger {busy} has {Execution.objects.filter(trigger_id=busy).count():,}, "
        f"the webhook trigger {Execution.objects.filter(trigger=hook).count():,}; "
        f"{args.requests} requests per figure, server time in ms"
    )
    triggers = Trigger.objects.filter(tenant=tenant)
    runs = Execution.objects.filter(tenant=tenant, trigger_id=busy)
    invocations = Execution.objects.filter(tenant=tenant, trigger=hook)
    failed = invocations.filter(status__in=["failed", "cancelled"])
    everything = Execution.objects.filter(tenant=tenant)
    cases = [
        ("GET /api/triggers", "/api/triggers?limit=50", triggers, 0),
        ("", "/api/triggers?limit=50&offset=10000", triggers, 10_000),
        ("GET /api/triggers/{id}/executions", f"/api/triggers/{busy}/executions?limit=50",
         runs, 0),
        ("", f"/api/triggers/{busy}/executions?limit=50&offset=10000", runs, 10_000),
        ("GET /api/executions", "/api/executions?limit=50", everything, 0),
        ("", "/api/executions?limit=50&offset=10000", everything, 10_000),
        ("management invocations", f"{MANAGE}/hook/invocations?limit=50", invocations, 0),
        ("", f"{MANAGE}/hook/invocations?limit=50&page=201", invocations, 10_000),
        ("  status=failed", f"{MANAGE}/hook/invocations?limit=50&status=failed", failed, 0),
        ("", f"{MANAGE}/hook/invocations?limit=50&status=failed&page=201", failed, 10_000),
    ]  # fmt: skip
    print(f"\n{'list':36} {'page':>7} {'ours p50':>9} {'p95':>7} {'queries':>8} "
          f"{'exact count p95':>16} {'bare page query p95':>20}")  # fmt: skip
    worst = 0.0
    for label, path, queryset, offset in cases:

        def request(path=path):
            response = client.get(path)
            assert response.status_code == 200, (path, response.content[:300])

        ours = timed(request, args.requests)
        with CaptureQueriesContext(connection) as captured:
            request()
        queries = len(captured)  # now: the next request's start empties the log
        with override_settings(LIST_EXACT_COUNT_LIMIT=10**9):
            exact = timed(request, max(10, args.requests // 3))
        bare = timed(lambda q=queryset, o=offset: list(q[o : o + 50]), args.requests)
        worst = max(worst, percentile(ours, 0.95))
        page = "deep" if offset else "first"
        print(f"{label:36} {page:>7} {statistics.median(ours):9.1f} "
              f"{percentile(ours, 0.95):7.1f} {queries:8} "
              f"{percentile(exact, 0.95):16.1f} {percentile(bare, 0.95):20.1f}")  # fmt: skip
    print(f"\nworst p95 of ours: {worst:.1f} ms (goal: at most 50 ms)")


if __name__ == "__main__":
    main()
