import signal
import threading

from django.core.management.base import BaseCommand

from watcher.watching import FolderWatcher


class Command(BaseCommand):
    help = (
        "Watch the folders of the active file_system triggers and fire them when matching "
        "files are created, modified or deleted (docs/watcher.md). Stops on SIGINT/SIGTERM."
    )

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        FolderWatcher().run(stop)
