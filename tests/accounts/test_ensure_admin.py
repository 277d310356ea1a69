"""manage.py ensure_admin, which bin/run calls on every start: the first superuser, made once,
with a password someone can read; never a crash that would stop the service from starting."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def ensure_admin() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ensure_admin", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_makes_admin_once_with_its_password_saved(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.INITIAL_ADMIN_PASSWORD = ""

    first, _ = ensure_admin()
    second, _ = ensure_admin()

    password = (tmp_path / "admin-password").read_text().strip()
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert password in first and "an existing superuser" in second


def test_a_user_named_admin_who_is_no_superuser_is_left_alone_with_a_warning(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    get_user_model().objects.create_user("admin", password="theirs")

    _, warning = ensure_admin()
    ensure_admin()  # and again: still no crash

    assert "createsuperuser" in warning
    admin = get_user_model().objects.get(username="admin")
    assert not admin.is_superuser and admin.check_password("theirs")


def test_no_admin_is_made_when_its_password_cannot_be_saved(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "missing"
    settings.INITIAL_ADMIN_PASSWORD = ""

    with pytest.raises(CommandError, match="no admin was made"):
        ensure_admin()

    assert not get_user_model().objects.filter(username="admin").exists()


def test_a_given_password_is_neither_printed_nor_saved(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.INITIAL_ADMIN_PASSWORD = "given-Pa55word"

    printed, _ = ensure_admin()

    assert "given-Pa55word" not in printed and not (tmp_path / "admin-password").exists()
    assert get_user_model().objects.get(username="admin").check_password("given-Pa55word")


def test_an_inactive_superuser_is_not_an_admin_login(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.INITIAL_ADMIN_PASSWORD = ""
    get_user_model().objects.create_superuser("root", password="x", is_active=False)

    printed, _ = ensure_admin()

    assert get_user_model().objects.get(username="admin").is_superuser
    assert "saved in" in printed
