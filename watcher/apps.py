from django.apps import AppConfig


class WatcherConfig(AppConfig):
    name = "watcher"
    verbose_name = "Watched folders"

    def ready(self) -> None:
        from watcher import receivers  # noqa: F401  (registers the folder checks)
