"""docs/architecture.md says what the code does: its table → owner map is the one the suite
enforces (tests/table_owners.py)."""

import re
from pathlib import Path

import table_owners
from django.apps import apps

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _documented_owners() -> dict[str, set[str]]:
    text = DOC.read_text()
    section = text.split("## Tables and their owners", 1)[1].split("\n## ", 1)[0]
    owners = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        modules = set(re.findall(r"`([a-z_]+\.[a-z_.]+)`", cells[2]))
        for table in re.findall(r"`([a-z_]+)`", cells[0]):
            owners[table] = modules
    return owners


def test_the_documented_owners_are_the_enforced_ones():
    enforced = {table: set(owners) for table, owners in table_owners.TABLE_OWNERS.items()}
    assert _documented_owners() == enforced


def test_every_table_of_ours_has_an_owner():
    ours = {
        "accounts", "triggers", "executions", "polling", "webhooks", "flows", "watcher", "alerts",
    }  # fmt: skip
    tables = {
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in ours and model._meta.managed
    }
    assert tables == set(table_owners.TABLE_OWNERS)
