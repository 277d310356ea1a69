from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"

    def ready(self) -> None:
        from triggers import receivers  # noqa: F401  (connects to accounts' signals)
