"""The WSGI application gunicorn serves (``gunicorn config.wsgi``): Django's handler, with
webhook deliveries going through a lean one (config/handlers.py).

The URLconf, and with it every view module, is loaded here instead of at the first request,
and then everything loaded so far is frozen out of the garbage collector's reach
(``gc.freeze``): those objects live as long as the worker, yet each full collection walked
all ~100,000 of them, stalling the request it interrupted by ~60 ms on the development
machine; frozen, ~10 ms (docs/benchmarks.md).
"""

import gc
import os

from django.urls import get_resolver

from config.handlers import get_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_application()
get_resolver().url_patterns  # noqa: B018 -- imports every view now
gc.freeze()
