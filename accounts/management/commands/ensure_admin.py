import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' when no superuser exists yet. Its password is "
        "INITIAL_ADMIN_PASSWORD when set, else generated, printed and written to "
        "var/admin-password."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "Admin login: an existing superuser (reset a password with "
                "`.venv/bin/python manage.py changepassword <username>`)."
            )
            return
        password = settings.INITIAL_ADMIN_PASSWORD or secrets.token_urlsafe(12)
        User.objects.create_superuser(username="admin", email="", password=password)
        path = settings.VAR_DIR / "admin-password"
        path.write_text(password + "\n")
        path.chmod(0o600)
        self.stdout.write(f"Admin login: user 'admin', password '{password}' (saved in {path}).")
