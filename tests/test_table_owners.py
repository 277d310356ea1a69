"""The owner check itself (tests/table_owners.py): a write from outside a table's owner is
caught, the owner's own write is not."""

from pathlib import Path

import pytest
import table_owners

from triggers import services as trigger_services
from triggers.models import Trigger

ROOT = Path(__file__).resolve().parent.parent


def _run_as_module(module: str, code: str, **names) -> None:
    """Run ``code`` as if it were in ``module`` of the project (its frames say so)."""
    filename = str(ROOT / (module.replace(".", "/") + ".py"))
    exec(compile(code, filename, "exec"), {"__name__": module, **names})


@pytest.fixture
def trigger(acme):
    return trigger_services.trigger_create(
        tenant=acme, provider_trigger_id="cron", name="Nightly", cron_expression="0 3 * * *"
    )


def test_it_catches_a_write_from_outside_the_owner(trigger):
    _run_as_module(
        "executions.scheduler",
        "Trigger.objects.filter(pk=pk).update(name='changed elsewhere')",
        Trigger=Trigger,
        pk=trigger.pk,
    )
    caught = [str(v) for v in table_owners.violations]
    table_owners.violations.clear()
    assert len(caught) == 1
    assert caught[0].startswith("executions.scheduler:1 wrote triggers_trigger outside")


def test_it_lets_the_owner_write(trigger):
    _run_as_module(
        "executions.scheduler",
        "services.triggers_set_next_fire_at(trigger_ids=[pk], next_fire_at=None)",
        services=trigger_services,
        pk=trigger.pk,
    )
    assert table_owners.violations == []
    trigger.refresh_from_db()
    assert trigger.next_fire_at is None


def test_it_reads_the_tables_a_raw_statement_writes():
    sql = 'WITH x AS (UPDATE "triggers_trigger" SET a = 1) INSERT INTO django_session ...'
    assert table_owners.written_tables(sql) == {"triggers_trigger"}
