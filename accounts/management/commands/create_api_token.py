from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.choices import MembershipRole
from accounts.identifiers import validate_public_id
from accounts.services import api_token_create, tenant_member_ensure


class Command(BaseCommand):
    help = (
        "Create an API token for a user in a tenant (user, tenant and membership are created "
        "when missing). The token is printed alone on the last line and never stored in clear."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
        parser.add_argument("--name", default="", help="a label for the token")
        parser.add_argument(
            "--role",
            default=MembershipRole.OWNER,
            choices=MembershipRole.values,
            help="role for a new membership (an existing membership keeps its role)",
        )

    def handle(self, *args, username, tenant, name, role, **options):
        try:
            validate_public_id(tenant)
        except ValidationError as error:
            raise CommandError(f"--tenant: {error.messages[0]}") from None
        membership = tenant_member_ensure(username=username, tenant_id=tenant, role=role)
        _, token = api_token_create(membership=membership, name=name)
        self.stdout.write(
            f"Token for {membership.user.username} in tenant {membership.tenant_id} "
            f"(role {membership.role}). Send it as 'Authorization: Bearer <token>'; "
            "it is not shown again:"
        )
        self.stdout.write(token)
