from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Tenants and access"

    def ready(self):
        from accounts import receivers  # noqa: F401  (connects the user_identity receiver)
        from accounts.admin_users import restrict_login_records

        # After every app's admin is loaded (django.contrib.admin's ready ran first): axes'.
        restrict_login_records()
