"""Every user gets its public id (UserIdentity) when it is created, whoever creates it:
``tenant_member_ensure``, ``ensure_admin``, ``createsuperuser``, the admin's user form."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.services import user_identity_ensure


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.user_identity")
def user_identity_on_create(sender, instance, created, **kwargs):
    # raw (loaddata) too: a fixture's users need one as much as any; a fixture that carries
    # the identity rows overwrites this one with its own public id.
    if created:
        user_identity_ensure(user=instance)
