from django.http import JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from inference.api import ImageUpload
from studies.api import views


@csrf_exempt  # it changes nothing; a POST must get this 404, not the CSRF failure page
def no_such_endpoint(request, rest: str):
    """Any other path under the API: the API's JSON error, not Django's HTML page."""
    return JsonResponse({"detail": "There is no such endpoint.", "code": "not_found"}, status=404)


urlpatterns = [
    path("studies/<slug:slug>/sessions", views.SessionCreate.as_view(), name="api-sessions"),
    path("session", views.SessionDetail.as_view(), name="api-session"),
    path("session/consent", views.Consent.as_view(), name="api-consent"),
    path("session/next", views.NextTrial.as_view(), name="api-next"),
    path("session/trials/<int:trial_id>/response", views.TrialResponse.as_view(), name="api-response"),
    path("session/trials/<int:trial_id>/problem", views.TrialProblem.as_view(), name="api-problem"),
    path("session/withdraw", views.Withdraw.as_view(), name="api-withdraw"),
    path(
        "studies/<slug:slug>/export/responses.csv",
        views.ResponsesExport.as_view(),
        name="api-export-responses",
    ),
    path(
        "studies/<slug:slug>/export/participants.csv",
        views.ParticipantsExport.as_view(),
        name="api-export-participants",
    ),
    path("studies/<slug:slug>/export/items.csv", views.ItemsExport.as_view(), name="api-export-items"),
    path("studies/<slug:slug>/export/codebook.json", views.Codebook.as_view(), name="api-export-codebook"),
    path("studies/<slug:slug>/status", views.StudyStatus.as_view(), name="api-study-status"),
    path("image-sets/<slug:name>/images", ImageUpload.as_view(), name="api-image-upload"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path(
        "docs/",
        # The split view serves its script as a file: the docs page needs no inline script.
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[]),
        name="api-docs",
    ),
    # [\s\S], not `.`, which stops at a newline (a path may hold %0a: it fell through to
    # Django's HTML 404). Not the (?s) flag either: Django cannot reverse a pattern with it,
    # and then no URL of the site can be reversed.
    re_path(r"^(?P<rest>[\s\S]*)$", no_such_endpoint),
]
