"""What bench/load.py adds to the served site (through bench/load_settings.py):

- `bench/trivial`, a view that does nothing but answer JSON, behind the same middleware, so
  that the cost of the participant API can be told from the cost every request pays
  (gunicorn, WSGI, middleware);
- `bench/one-query`, the same with one database query (`SELECT 1`), so that the cost of a
  round trip to PostgreSQL, which every participant request makes several of, is measured
  too;
- with SECONDLOOK_LOAD_PROFILE=<directory>, a middleware that runs every request under
  cProfile and writes each worker's statistics to <directory>/<pid>.prof (`--profile`).
  Its times are wall times: waiting for PostgreSQL shows as psycopg2's `execute`, and on
  a saturated machine everything includes waiting for a core (bench/load.py measures the
  CPU of the workers and of PostgreSQL apart). A CPU-time timer would be a system call on
  every function call, slowing the ORM's many small calls far more than the rest."""

import cProfile
import os
from pathlib import Path

from django.db import connection
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as site

PROFILE_DUMP_EVERY = 50  # requests; the last few before the worker stops are not written


def trivial(request):
    return JsonResponse({"ok": True})


def one_query(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/trivial", trivial), path("bench/one-query", one_query), *site]


class Profile:
    """Outermost middleware: one profiler per worker process, on only while a request is
    handled, written out every PROFILE_DUMP_EVERY requests (a worker stopped by gunicorn
    runs no exit hook that could be relied on)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.profiler = cProfile.Profile()
        self.handled = 0
        self.path = Path(os.environ["SECONDLOOK_LOAD_PROFILE"]) / f"{os.getpid()}.prof"

    def __call__(self, request):
        self.profiler.enable()
        try:
            return self.get_response(request)
        finally:
            self.profiler.disable()
            self.handled += 1
            if self.handled % PROFILE_DUMP_EVERY == 0:
                self.profiler.dump_stats(self.path)
