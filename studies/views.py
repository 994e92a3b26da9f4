from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from studies.models import Study


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
