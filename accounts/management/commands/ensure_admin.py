import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' when no active superuser exists yet. Its password is "
        "INITIAL_ADMIN_PASSWORD when set (not shown), else generated, printed and written "
        "to var/admin-password. When 'admin' is already another user's name, nothing is "
        "made and a warning says how to make a superuser (bin/run still starts)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True, is_active=True).exists():
            self.stdout.write(
                "Admin login: an existing superuser (reset a password with "
                "`.venv/bin/python manage.py changepassword <username>`)."
            )
            return
        if User.objects.filter(username=USERNAME).exists():
            # Not a superuser, or not active: an operator's user, never taken over here.
            self.stderr.write(
                f"No active superuser, and the username '{USERNAME}' is taken by a user who is "
                "not one: make one with `.venv/bin/python manage.py createsuperuser`."
            )
            return
        given = settings.INITIAL_ADMIN_PASSWORD
        password = given or secrets.token_urlsafe(12)
        path = settings.VAR_DIR / "admin-password"
        # Made only together with the file that keeps its password: an admin nobody can log
        # in as would stop this command from ever making another.
        with transaction.atomic():
            User.objects.create_superuser(username=USERNAME, email="", password=password)
            if not given:
                try:
                    path.write_text(password + "\n")
                    path.chmod(0o600)
                except OSError as error:
                    raise CommandError(
                        f"Cannot save the admin password in {path} ({error.strerror}); "
                        "no admin was made."
                    ) from None
        if given:
            self.stdout.write(f"Admin login: user '{USERNAME}', password INITIAL_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                f"Admin login: user '{USERNAME}', password '{password}' (saved in {path})."
            )
