"""gunicorn's settings hooks (bin/run passes ``-c config/gunicorn.py``).

With PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics to files there and
/metrics sums them (config/observability.py); a worker that exits is marked dead so the
files of its live gauges stop counting.

The access log masks the secret in webhook URLs and key endpoints (config/secret_paths.py):
``"POST /hooks/Xk3f… HTTP/1.1" 202``.
"""

import os

from gunicorn.glogging import Logger

from config.secret_paths import mask_secret_paths

# The access log's atoms that hold the request's path (and the Referer, which may repeat it).
_PATH_ATOMS = ("r", "U", "f", "{raw_uri}e", "{path_info}e", "{request_uri}e", "{referer}i")


class MaskedAccessLogger(Logger):
    """gunicorn's logger, with the secret part of every path masked in the access log."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _PATH_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = mask_secret_paths(value)
        return atoms


logger_class = MaskedAccessLogger


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
