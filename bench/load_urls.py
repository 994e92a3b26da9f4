"""The site's URLs plus `bench/trivial`: a view that does nothing but answer JSON, behind
the same middleware, so that bench/load.py can tell the cost of the participant API from
the cost of the stack (gunicorn, WSGI, middleware) every request pays."""

from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as site


def trivial(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/trivial", trivial), *site]
