from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        from alerts import receivers  # noqa: F401 - a trigger's status change is looked at at once
