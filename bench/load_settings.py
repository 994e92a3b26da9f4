"""Production settings with bench/load.py's additions (bench/load_urls.py): a trivial JSON
endpoint, the floor the participant API is measured against, and, only when
SECONDLOOK_LOAD_PROFILE names a directory, a profiling middleware. Everything else,
middleware included, is config.settings.production as deployed."""

import os

from config.settings.production import *  # noqa: F403
from config.settings.production import MIDDLEWARE

ROOT_URLCONF = "bench.load_urls"
if os.environ.get("SECONDLOOK_LOAD_PROFILE"):
    MIDDLEWARE = ["bench.load_urls.Profile", *MIDDLEWARE]
