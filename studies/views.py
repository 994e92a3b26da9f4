from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from studies.analysis import results as analysis_results
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


def _study_for_researcher(request, slug: str) -> Study:
    if not request.user.has_perm("studies.view_response"):
        raise PermissionDenied
    return get_object_or_404(Study, slug=slug)


@staff_member_required
def dashboard(request, slug: str):
    """The researcher's live view of a study; the page refreshes its numbers itself."""
    study = _study_for_researcher(request, slug)
    refresh = request.GET.get("refresh", "")
    seconds = min(max(int(refresh), 2), 300) if refresh.isdigit() else 15
    response = render(
        request, "studies/dashboard.html", {**numbers.summary(study), "refresh_seconds": seconds}
    )
    response["Cache-Control"] = "no-store"
    return response


@staff_member_required
def results(request, slug: str):
    """The analysis of a study's valid answers, as a page or (?format=json) as numbers."""
    study = _study_for_researcher(request, slug)
    try:
        threshold = float(request.GET.get("threshold", analysis_results.topk.THRESHOLD))
    except ValueError:
        return HttpResponseBadRequest("threshold must be a number between 0 and 1")
    if not 0 <= threshold < 1:
        return HttpResponseBadRequest("threshold must be a number between 0 and 1")
    found = analysis_results.results(study, threshold)
    if request.GET.get("format") == "json":
        return JsonResponse(analysis_results.as_json(found))
    context = {**found, "study": study, "threshold_param": request.GET.get("threshold", "")}
    if "topk" in found:
        context["chart"] = analysis_results.topk_chart(found["topk"])
        context["topk_rows"] = [(label, found["topk"][name]) for name, label in analysis_results.TOPK_RATES]
    if "label_checks" in found:
        context["label_chart"] = analysis_results.label_check_chart(found["label_checks"])
    return render(request, "studies/results.html", context)
