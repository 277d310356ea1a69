"""Settings for the benchmarks: production settings plus a bench-only URL (bench/urls.py)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
