"""The ops console at scale: 1,000,000 executions in PostgreSQL, the admin's pages timed.

    .venv/bin/python bench/admin.py [--executions 1000000] [--requests 40] [--rebuild]

Fills the database ``bench_admin`` once (kept between runs; ``--rebuild`` starts over) with
one SQL statement per table: 1,000 cron triggers and a webhook trigger in tenant ``bench``,
100 triggers in tenant ``other``, and the executions spread over them (a third on the webhook
trigger, a third on one cron trigger, the rest over every trigger; 4 % failed, 1 % cancelled,
0.1 % pending, the rest completed), one a second back from now. Then it times pages through
Django's test client in this process, logged in as a superuser: the server time of a
request, from the URL to the rendered page, every query included, the network not.

Side by side, on the same rows, the same pages of a stock ``ModelAdmin`` (Django's defaults
with the same list_display, list_filter and search_fields, on an AdminSite of its own):
its paginator counts every matching row, and it shows the full count next to a filtered one.

Prints p50 and p95 per page, the number of queries, and the stock admin's p95.
"""

import argparse
import statistics
import time
import types

from _shared import django_setup, environment, percentile, prepare_kept_database, timed

DATABASE = "bench_admin"


ENV = environment(
    DATABASE,
    broker="redis://127.0.0.1:6379/13",
    ALLOWED_HOSTS="testserver",
    SECURE_SSL_REDIRECT="0",
)


def fill(executions: int) -> None:
    from django.db import connection

    from accounts.services import tenant_member_ensure
    from triggers.models import Trigger

    started = time.perf_counter()
    bench = tenant_member_ensure(username="bench", tenant_id="bench", role="owner").tenant
    other = tenant_member_ensure(username="other", tenant_id="other", role="owner").tenant
    batch = [
        Trigger(
            tenant=tenant, name=f"{tenant.pk} cron {i}", provider_id="builtin",
            provider_trigger_id="cron", cron_expression=f"{i % 60} 9 * * 1-5",
            timezone="America/New_York", status="active",
        )
        for tenant, count in ((bench, 1000), (other, 100))
        for i in range(count)
    ]  # fmt: skip
    batch.append(
        Trigger(tenant=bench, name="hook", provider_id="builtin", provider_trigger_id="webhook")
    )
    for trigger in batch:
        trigger.public_id = str(trigger.uuid)
    Trigger.objects.bulk_create(batch)
    ids = list(Trigger.objects.order_by("pk").values_list("pk", "tenant_id"))
    hook = Trigger.objects.get(name="hook").pk
    busy = Trigger.objects.get(name="bench cron 0").pk
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO executions_execution (
                execution_id, tenant_id, trigger_id, execution_type, is_test, status,
                scheduled_for, request_payload, input_data, error_message, retry_count,
                max_retries, worker_id, conversation_id, available_at, started_at,
                completed_at, created_at, updated_at)
            SELECT gen_random_uuid(), t.tenant_id, t.id,
                   CASE WHEN t.id = %(hook)s THEN 'webhook'
                        WHEN n %% 10 = 7 THEN 'manual' ELSE 'scheduled' END, false,
                   CASE WHEN n %% 1000 = 5 THEN 'pending'
                        WHEN n %% 100 < 4 THEN 'failed'
                        WHEN n %% 100 = 4 THEN 'cancelled' ELSE 'completed' END,
                   CASE WHEN t.id <> %(hook)s AND n %% 10 <> 7 THEN at END,
                   jsonb_build_object('body', jsonb_build_object('n', n %% 1000)),
                   jsonb_build_object('n', n %% 1000),
                   CASE WHEN n %% 100 < 4 THEN 'agent runtime answered 503'
                        WHEN n %% 100 = 4 THEN 'Not run: overlap policy skip' ELSE '' END,
                   0, 3, '', '', at, at, at + interval '2 seconds', at, at
            FROM (SELECT n, now() - (n * interval '1 second') AS at,
                         CASE WHEN n %% 3 = 0 THEN %(hook)s
                              WHEN n %% 3 = 1 THEN %(busy)s
                              ELSE (%(ids)s::bigint[])[1 + (n %% %(count)s)] END AS trigger_id
                  FROM generate_series(1, %(executions)s) AS n) AS series
            JOIN triggers_trigger t ON t.id = series.trigger_id
            """,
            {"hook": hook, "busy": busy, "ids": [pk for pk, _ in ids], "count": len(ids),
             "executions": executions},
        )  # fmt: skip
        cursor.execute("VACUUM ANALYZE executions_execution")
        cursor.execute("ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s")


def stock_urlconf():
    """The service's URLs plus /stock/: the same models under Django's stock ModelAdmin."""
    from django.contrib import admin
    from django.urls import path

    from config.urls import urlpatterns
    from executions.admin import ExecutionAdmin
    from executions.models import Execution
    from triggers.models import Trigger

    site = admin.AdminSite(name="stock")

    class StockExecutionAdmin(admin.ModelAdmin):
        list_display = [name for name in ExecutionAdmin.list_display if name != "item"]
        list_filter = ["status", "execution_type", "created_at", "tenant"]
        search_fields = ["execution_id", "idempotency_key"]
        list_select_related = ["trigger", "tenant"]

    site.register(Execution, StockExecutionAdmin)
    site.register(Trigger, admin.ModelAdmin)
    module = types.ModuleType("bench_admin_urls")
    module.urlpatterns = [path("stock/", site.urls), *urlpatterns]
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    must_fill = prepare_kept_database(DATABASE, ENV, rebuild=args.rebuild)
    django_setup(ENV)
    if must_fill:
        fill(args.executions)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from executions.models import Execution
    from triggers.models import Trigger

    user = get_user_model().objects.filter(username="root").first()
    if user is None:
        user = get_user_model().objects.create_superuser("root", password="bench-only")
    client = Client()
    client.force_login(user)
    # Staff of tenant "bench" (not a superuser): every query scoped to it.
    staff = get_user_model().objects.get(username="bench")
    if not staff.is_staff:
        staff.is_staff = True
        staff.save()
        staff.user_permissions.set(Permission.objects.all())
    staff_client = Client()
    staff_client.force_login(staff)
    busy = Trigger.objects.get(name="bench cron 0")
    print(
        f"{Execution.objects.count():,} executions, {Trigger.objects.count():,} triggers; "
        f"trigger {busy.pk} has {Execution.objects.filter(trigger=busy).count():,}; "
        f"{args.requests} requests per figure (the stock admin: a third), server time in ms"
    )
    executions = "executions/execution/"
    cases = [
        ("executions, status=failed", f"{executions}?status__exact=failed"),
        ("  the same, as staff of one tenant", f"{executions}?status__exact=failed", "staff"),
        ("executions, status=completed", f"{executions}?status__exact=completed"),
        ("executions, no filter", executions),
        ("executions, status=failed, page 50", f"{executions}?status__exact=failed&p=50"),
        ("trigger page (busiest trigger)", f"triggers/trigger/{busy.pk}/change/"),
    ]
    with override_settings(ROOT_URLCONF=stock_urlconf()):
        print(f"\n{'page':38} {'ours p50':>9} {'p95':>7} {'queries':>8} "
              f"{'stock p50':>10} {'p95':>7} {'queries':>8} {'stock/ours p95':>15}")  # fmt: skip
        worst = 0.0
        for label, path, *who in cases:
            samples, queries = {}, {}
            for admin_site in ("admin", "stock"):
                url = f"/{admin_site}/{path}"
                # The stock admin has no tenant scoping: the superuser's page, for reference.
                browser = staff_client if who and admin_site == "admin" else client

                def request(url=url, browser=browser):
                    response = browser.get(url)
                    assert response.status_code == 200, (url, response.status_code)

                runs = args.requests if admin_site == "admin" else max(10, args.requests // 3)
                samples[admin_site] = timed(request, runs)
                with CaptureQueriesContext(connection) as captured:
                    request()
                queries[admin_site] = len(captured)
            ours, stock = samples["admin"], samples["stock"]
            worst = max(worst, percentile(ours, 0.95))
            print(f"{label:38} {statistics.median(ours):9.1f} {percentile(ours, 0.95):7.1f} "
                  f"{queries['admin']:8} {statistics.median(stock):10.1f} "
                  f"{percentile(stock, 0.95):7.1f} {queries['stock']:8} "
                  f"{percentile(stock, 0.95) / percentile(ours, 0.95):14.1f}x")  # fmt: skip
        home = timed(lambda: client.get("/admin/"), args.requests)
        print(f"{'admin home (the dashboard)':38} {statistics.median(home):9.1f} "
              f"{percentile(home, 0.95):7.1f}")  # fmt: skip
    print(f"\nworst p95 of ours: {worst:.1f} ms (goal: at most 300 ms)")


if __name__ == "__main__":
    main()
