import json

from django.core.management.base import BaseCommand, CommandError

from flows.services import flows_with_legacy_intent, user_intents_migrate


class Command(BaseCommand):
    help = (
        "Move flow-level whenToUse/whenNotToUse into a UserIntent node per flow. "
        "Idempotent; each flow in its own transaction; prints the report as JSON and exits "
        "1 when a flow failed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; change nothing."
        )

    def handle(self, *args, dry_run: bool, **options):
        pending = flows_with_legacy_intent().count()
        self.stderr.write(
            f"{pending} flow(s) with a flow-level intent{' (dry run)' if dry_run else ''}"
        )
        report = user_intents_migrate(dry_run=dry_run)
        self.stdout.write(json.dumps(report.as_json(), indent=2))
        if report.errors:
            # Non-zero, so a script sees it; the flows that did migrate stay migrated.
            raise CommandError(f"{len(report.errors)} flow(s) failed; see errors in the report")
