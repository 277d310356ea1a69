from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import MaxLengthValidator

from accounts.choices import MembershipRole
from accounts.identifiers import public_id_problem
from accounts.models import ApiToken
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
        _check("--username", username, _username_validators())
        if problem := public_id_problem(tenant):
            raise CommandError(f"--tenant: {problem}")
        name_length = ApiToken._meta.get_field("name").max_length
        _check("--name", name, [MaxLengthValidator(name_length)], blank=True)
        user = get_user_model().objects.filter(username=username).first()
        if user is not None and not user.is_active:
            raise CommandError(f"--username: {username} is not active; its token would not work.")
        membership = tenant_member_ensure(username=username, tenant_id=tenant, role=role)
        _, token = api_token_create(membership=membership, name=name)
        self.stdout.write(
            f"Token for {membership.user.username} in tenant {membership.tenant_id} "
            f"(role {membership.role}). Send it as 'Authorization: Bearer <token>'; "
            "it is not shown again:"
        )
        self.stdout.write(token)


def _username_validators() -> list:
    field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
    return [*field.validators, MaxLengthValidator(field.max_length)]


def _check(option: str, value: str, validators: list, *, blank: bool = False) -> None:
    """The value as the model takes it, else a CommandError naming the option."""
    if not value and not blank:
        raise CommandError(f"{option}: may not be empty.")
    for validator in validators:
        try:
            validator(value)
        except ValidationError as error:
            raise CommandError(f"{option}: {error.messages[0]}") from None
