from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve

from config.health import health

urlpatterns = [
    path("health/", health, name="health"),
    # Browsers ask for it by themselves (for the API's JSON and CSV replies, which link no
    # icon); pages link the icon under /static/ (templates/base.html).
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.ico")), name="favicon"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("studies.api.urls")),
    path("", include("inference.urls")),
    path("", include("studies.urls")),
]

if settings.DEBUG:
    urlpatterns += [
        re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]
