"""Every user's public id (UserIdentity): the table, and one for each user there already is."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def identities_for_existing_users(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    UserIdentity = apps.get_model("accounts", "UserIdentity")
    alias = schema_editor.connection.alias
    missing = User.objects.using(alias).filter(identity__isnull=True).values_list("pk", flat=True)
    UserIdentity.objects.using(alias).bulk_create(
        [UserIdentity(user_id=pk, public_id=uuid.uuid4()) for pk in missing.iterator()],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_api_token_expires_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UserIdentity",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="identity",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
            ],
            options={"verbose_name_plural": "user identities"},
        ),
        migrations.RunPython(identities_for_existing_users, migrations.RunPython.noop),
    ]
