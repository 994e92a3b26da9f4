from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from studies.models import Study
from studies.services import dashboard as numbers


def participant_page(request, slug: str):
    """The participant app shell; everything after this goes through the API."""
    study = get_object_or_404(Study, slug=slug)
    config = {
        "slug": study.slug,
        "title": study.title,
        "urls": {
            "sessions": reverse("api-sessions", args=[study.slug]),
            "session": reverse("api-session"),
            "consent": reverse("api-consent"),
            "next": reverse("api-next"),
            "response": reverse("api-response", args=[0]).replace("/0/", "/{trial_id}/"),
            "problem": reverse("api-problem", args=[0]).replace("/0/", "/{trial_id}/"),
            "withdraw": reverse("api-withdraw"),
        },
    }
    return render(
        request,
        "studies/participant.html",
        {"study_title": study.title, "participant_config": config},
    )


@staff_member_required
def dashboard(request, slug: str):
    """The researcher's live view of a study; the page refreshes its numbers itself."""
    if not request.user.has_perm("studies.view_response"):
        raise PermissionDenied
    study = get_object_or_404(Study, slug=slug)
    refresh = request.GET.get("refresh", "")
    seconds = min(max(int(refresh), 2), 300) if refresh.isdigit() else 15
    response = render(
        request, "studies/dashboard.html", {**numbers.summary(study), "refresh_seconds": seconds}
    )
    response["Cache-Control"] = "no-store"
    return response
