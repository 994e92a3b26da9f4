"""Production settings with one addition for bench/load.py: a trivial JSON endpoint
(bench/load_urls.py), the floor the participant API is measured against. Everything else,
middleware included, is config.settings.production as deployed."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.load_urls"
