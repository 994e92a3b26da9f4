from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from inference.models import Classifier, ImageSet
from inference.services import bias_explorer
from studies.analysis import results as analysis_results
from studies.analysis.statistics import wilson
from studies.models import Study
from studies.services import access, presets
from studies.services import dashboard as numbers
from studies.services.errors import ServiceError


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
    # Permission first, then the study: a refusal must not tell whether the slug exists.
    if not access.can_read_data(request.user):
        raise PermissionDenied
    return access.study_for(request.user, slug)


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
    context["charts"] = analysis_results.chart_svgs(found)
    if "topk" in found:
        context["topk_rows"] = [(label, found["topk"][name]) for name, label in analysis_results.TOPK_RATES]
    return render(request, "studies/results.html", context)


@staff_member_required
def bias(request):
    """The bias explorer: galleries and per-tag prediction rates for one class; any of it
    becomes a bias-audit study in one step (POST)."""
    if not request.user.has_perm("studies.view_response"):
        raise PermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    chosen = {key: source.get(key, "").strip() for key in ("classifier", "image_set", "class")}
    context = {
        "classifiers": Classifier.objects.order_by("name"),
        "image_sets": ImageSet.objects.order_by("name"),
        "chosen": chosen,
    }
    if not all(chosen.values()):
        return render(request, "studies/bias.html", context)
    classifier = Classifier.objects.filter(name=chosen["classifier"]).first()
    image_set = ImageSet.objects.filter(name=chosen["image_set"]).first()
    if classifier is None or image_set is None:
        context["error"] = "Choose an existing classifier and image set."
        return render(request, "studies/bias.html", context, status=400)
    if request.method == "POST":
        if not request.user.has_perm("studies.add_study"):
            raise PermissionDenied
        try:
            study = presets.create(
                "bias-audit",
                request.POST.get("slug", ""),
                image_set,
                classifier,
                audit_classes=[chosen["class"]],
            )
        except ServiceError as error:
            context["error"] = error.detail
            return render(request, "studies/bias.html", context, status=400)
        access.add_creator(study, request.user)
        return redirect("admin:studies_study_change", study.pk)
    try:
        explorer = bias_explorer.explore(classifier, image_set, chosen["class"])
    except ValueError as error:
        context["error"] = str(error)
        return render(request, "studies/bias.html", context, status=400)
    context["explorer"] = explorer
    context["galleries"] = [
        ("Prototypes (MMD-critic)", explorer.prototypes, "prototypes"),
        ("Criticisms (MMD-critic)", explorer.criticisms, "criticisms"),
        ("Other images closest by attack budget", explorer.closest_by_attack, "closest-by-attack"),
        ("Other images nearest in feature space", explorer.nearest_in_features, "nearest-in-features"),
    ]
    context["tag_rates"] = [
        {**row, "rate": wilson(row["predicted"], row["images"])} for row in explorer.tag_rates
    ]
    return render(request, "studies/bias.html", context)
