"""The researcher's admin: configure a study, prepare its stimuli, launch it, watch it,
and download its responses."""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from inference.models import Classifier, ImageSet
from inference.services import plans
from studies.models import (
    AuditLog,
    Condition,
    ExclusionEvent,
    Participant,
    Response,
    Study,
    StudyVersion,
    Trial,
)
from studies.services import access, preparation, presets, sessions, task_kinds, versions
from studies.services import launch as lifecycle
from studies.services.errors import ServiceError

admin.site.site_header = "SecondLook"
if settings.SECONDLOOK_TASK_MODE == "in-process":
    admin.site.site_header = "SecondLook — embedded mode (tasks run in-process)"
admin.site.site_title = "SecondLook"


def answer_text(stored) -> str:
    answer = task_kinds.typed_answer(stored)
    if "choice" in answer:
        confidence = answer.get("confidence")
        return answer["choice"] + (f" (confidence {confidence})" if confidence else "")
    return ", ".join(answer.get("selected", []))


def _stage_text(stage: plans.StageState) -> str:
    if stage.state in ("waiting", "blocked"):
        return stage.detail
    text = f"{stage.state}, {stage.done}/{stage.total} images"
    if stage.failed:
        text += f", {stage.failed} failed"
    return f"{text} ({stage.detail})" if stage.detail else text


def _stage_line(stage: plans.StageState):
    return format_html(
        '<span class="stage-{}">{} (job {}): {}</span>',
        stage.state,
        stage.label,
        stage.job_id or "not started",
        _stage_text(stage),
    )


def _plan_summary(current: plans.PlanState) -> str:
    total = len(current.stages)
    if not current.finished:
        left = len(current.left)
        return f"Preparing: {total - left} of {total} stages finished, {left} to go."
    if current.succeeded:
        return f"Prepared: all {total} stages done."
    return "Preparation stopped: a stage failed (its reason is below); fix the cause and prepare again."


class StudyScopedAdmin(admin.ModelAdmin):
    """Rows of the studies the researcher sees (services/access.py); `study_path` leads from
    a row to its study. The study filter lists only those studies."""

    study_path = "study"

    def get_queryset(self, request):
        visible = access.studies_for(request.user)
        return super().get_queryset(request).filter(**{f"{self.study_path}__in": visible})


class ReadOnlyAdmin(StudyScopedAdmin):
    """Data written by participants and workers: visible to researchers, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PresetForm(forms.Form):
    preset = forms.ChoiceField(choices=[(name, p.title) for name, p in presets.PRESETS.items()])
    slug = forms.SlugField(max_length=80, help_text=Study._meta.get_field("slug").help_text)
    image_set = forms.ModelChoiceField(ImageSet.objects.all())
    classifier = forms.ModelChoiceField(Classifier.objects.all())
    audit_classes = forms.CharField(
        required=False, help_text="Bias audit only: comma-separated class names or ids, e.g. basketball."
    )


class StudyForm(forms.ModelForm):
    """Refuses settings that cannot be read, and an edit that would leave a running study
    with more images per participant than its image set has (launch.edit_problems): each is
    an error on its field, and nothing is saved."""

    def _post_clean(self):
        # The instance holds the form's values only after super(); Django's own
        # UserCreationForm hooks in here for the same reason (a password judged against
        # the user it would save).
        super()._post_clean()
        for field, problems in lifecycle.edit_problems(self.instance).items():
            # A field with an error already keeps its old value on the instance: judging
            # that again would only repeat or mislead.
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, problems)


class ConditionFormSet(forms.BaseInlineFormSet):
    """A running study's conditions must be able to take someone (launch.edit_condition_problems);
    a draft's are judged by its readiness before launch."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [form.cleaned_data for form in self.forms if form.cleaned_data]
        kept = [row for row in kept if not row.get("DELETE")]
        problems = lifecycle.edit_condition_problems(self.instance, kept)
        if problems:
            raise forms.ValidationError(problems)


class ConditionInline(admin.TabularInline):
    model = Condition
    formset = ConditionFormSet
    extra = 0
    fields = ["name", "weight", "quota", "explanation_display"]
    verbose_name = "between-subjects condition"
    verbose_name_plural = "Between-subjects conditions (none: one condition, as the study says)"


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyForm
    inlines = [ConditionInline]
    list_display = ["title", "slug", "status", "classifier", "image_set", "participant_count", "links"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    filter_horizontal = ["researchers"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["status", "current_version", "launched_at", "readiness", "preparation", "links"]
    actions = ["prepare", "start_pilot", "launch", "pause", "resume", "close"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["title", "slug", "status", "readiness", "preparation", "links"]}),
        (
            "Stimuli",
            {
                "fields": [
                    "image_set",
                    "classifier",
                    "task_kind",
                    "item_selection",
                    "audit_classes",
                    "k",
                    "option_order",
                    "prompt",
                    "stimuli",
                    "one_version_per_image",
                    "attack",
                    "display_scale",
                ]
            },
        ),
        (
            "Explanations",
            {
                "fields": [
                    "explanation_display",
                    "explanation_method",
                    "heatmap_normalisation",
                    "examples_count",
                ]
            },
        ),
        (
            "Session",
            {
                "fields": [
                    "images_per_participant",
                    "blocks",
                    "judgments_per_item",
                    "session_timeout_minutes",
                    "ask_confidence",
                    "practice_trials",
                    "gold_trials",
                    "attention_checks",
                    "exclusion_rules",
                    "consent_text",
                    "consent_version",
                    "instructions",
                ]
            },
        ),
        ("Recruitment", {"fields": ["platform", "identity_param", "completion_code", "redirect_url"]}),
        (
            "Other outcomes",
            {
                "fields": [
                    "no_consent_code",
                    "no_consent_redirect_url",
                    "withdrawn_code",
                    "withdrawn_redirect_url",
                    "screened_out_code",
                    "screened_out_redirect_url",
                    "full_code",
                    "full_redirect_url",
                ]
            },
        ),
        (
            "Rate limits",
            {
                "classes": ["collapse"],
                "description": "Requests beyond these get 429 with Retry-After; the participant page waits "
                "and retries.",
                "fields": [
                    "sessions_per_address_per_minute",
                    "requests_per_token_per_minute",
                    "requests_per_address_per_minute",
                ],
            },
        ),
        ("Reproducibility", {"fields": ["seed", "current_version", "launched_at"]}),
        ("Access", {"fields": ["researchers"]}),
    ]

    def get_queryset(self, request):
        visible = access.studies_for(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=visible)
            .annotate(n_participants=Count("participants"))
        )

    def get_urls(self):
        preset = path("preset/", self.admin_site.admin_view(self.preset_view), name="studies_study_preset")
        return [preset, *super().get_urls()]

    def preset_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PresetForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            classes = [c.strip() for c in data["audit_classes"].split(",") if c.strip()]
            try:
                study = presets.create(
                    data["preset"], data["slug"], data["image_set"], data["classifier"], audit_classes=classes
                )
            except ServiceError as error:
                form.add_error(None, error.detail)
            else:
                access.add_creator(study, request.user)
                self.message_user(request, f"{study}: created as a draft. Prepare it, then launch it.")
                return redirect("admin:studies_study_change", study.pk)
        context = {**self.admin_site.each_context(request), "form": form, "presets": presets.PRESETS.values()}
        return TemplateResponse(request, "admin/studies/study/preset.html", context)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            # After the form's own researchers are saved, which would replace the creator.
            access.add_creator(form.instance, request.user)
        # Conditions are saved by now: a running study's edit becomes a new version.
        try:
            version = lifecycle.revise(form.instance)
        except ServiceError as error:
            self.message_user(
                request,
                f"Saved, but participants still get the running version: {error.detail}",
                messages.WARNING,
            )
        else:
            if version is not None:
                self.message_user(
                    request, f"Newcomers now get version {version.number}; those already in keep theirs."
                )

    @admin.display(description="participants", ordering="n_participants")
    def participant_count(self, study):
        return study.n_participants

    @admin.display(description="links")
    def links(self, study):
        if not study.pk:
            return "—"
        links = format_html(
            '<a href="{}">participant link</a> · <a href="{}">dashboard</a> · <a href="{}">results</a> · '
            '<a href="{}">responses CSV</a> · <a href="{}">participants CSV</a> · '
            '<a href="{}">items CSV</a> · <a href="{}">codebook</a> · <a href="{}">status</a>',
            study.participant_path,
            reverse("study-dashboard", args=[study.slug]),
            reverse("study-results", args=[study.slug]),
            reverse("api-export-responses", args=[study.slug]),
            reverse("api-export-participants", args=[study.slug]),
            reverse("api-export-items", args=[study.slug]),
            reverse("api-export-codebook", args=[study.slug]),
            reverse("api-study-status", args=[study.slug]),
        )
        if study.current_version_id is None:
            return links
        # A test participant: never counted, never exported by default.
        preview = f"{study.participant_path}?{urlencode({'preview': sessions.preview_token(study)})}"
        return format_html('{} · <a href="{}" target="_blank">preview as participant</a>', links, preview)

    @admin.display(description="ready to launch?")
    def readiness(self, study):
        if not study.pk:
            return "Save the study first."
        plan = lifecycle.readiness(study)
        verdict = f"Ready: {len(plan.items)} items." if not plan.problems else "Not ready:"
        lines = [*plan.problems, *(f"Note: {note}" for note in plan.notes)]
        return format_html(
            "{}<ul>{}</ul>", verdict, format_html_join("", "<li>{}</li>", ((line,) for line in lines))
        )

    @admin.display(description="preparation")
    def preparation(self, study):
        if not study.pk:
            return "Save the study first."
        current = preparation.latest(study)
        if current is None:
            return "Not prepared yet: select the study in the list and run “Prepare stimuli”."
        return format_html(
            '{}<ul class="preparation-stages">{}</ul>',
            _plan_summary(current),
            format_html_join("", "<li>{}</li>", ((_stage_line(stage),) for stage in current.stages)),
        )

    @admin.action(description="Prepare stimuli (everything the study shows, in one go)")
    def prepare(self, request, queryset):
        for study in queryset:
            try:
                plan = preparation.prepare(study, requested_by=request.user)
            except ValueError as error:
                self.message_user(
                    request, f"{study}: cannot be prepared as configured: {error}", messages.ERROR
                )
                continue
            current = plans.state(plan)
            level = messages.ERROR if any(s.state == "failed" for s in current.stages) else messages.INFO
            self.message_user(
                request,
                f"{study}: {_plan_summary(current)} "
                + "; ".join(f"{stage.label.lower()}: {_stage_text(stage)}" for stage in current.stages)
                + ". Its page shows the progress.",
                level,
            )

    def _lifecycle(self, request, queryset, move, verb):
        for study in queryset:
            try:
                move(study)
            except ServiceError as error:
                self.message_user(request, f"{study}: {error.detail}", messages.ERROR)
            else:
                self.message_user(request, f"{study}: {verb}.")

    @admin.action(description="Start a pilot (freeze configuration; participants flagged as pilot)")
    def start_pilot(self, request, queryset):
        self._lifecycle(request, queryset, lifecycle.pilot, "in pilot")

    @admin.action(description="Launch (freeze configuration and go live)")
    def launch(self, request, queryset):
        self._lifecycle(request, queryset, lifecycle.launch, "launched")

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        self._lifecycle(request, queryset, lifecycle.pause, "paused")

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        self._lifecycle(request, queryset, lifecycle.resume, "resumed")

    @admin.action(description="Close")
    def close(self, request, queryset):
        self._lifecycle(request, queryset, lifecycle.close, "closed")


@admin.register(StudyVersion)
class StudyVersionAdmin(ReadOnlyAdmin):
    # The slug tells apart studies that share a title; the join keeps the rows one query.
    list_display = ["study", "study_slug", "number", "created_at"]
    list_select_related = ["study"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter)]
    fields = ["study", "number", "created_at", "changes", "config"]
    readonly_fields = ["changes"]

    @admin.display(description="slug", ordering="study__slug")
    def study_slug(self, version):
        return version.study.slug

    @admin.display(description="changes from the previous version")
    def changes(self, version):
        before = versions.previous(version)
        if before is None:
            return "The first version."
        rows = versions.diff(before.config, version.config)
        if not rows:
            return f"Same configuration as version {before.number}."
        return format_html(
            "<table><tr><th>setting</th><th>version {}</th><th>version {}</th></tr>{}</table>",
            before.number,
            version.number,
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )


class ExclusionInline(admin.TabularInline):
    model = ExclusionEvent
    fields = ["rule", "mode", "threshold", "evidence", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


class TrialInline(admin.TabularInline):
    model = Trial
    fields = ["index", "item", "kind", "role", "block", "presented_at", "answer", "problem"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="answer")
    def answer(self, trial):
        response = getattr(trial, "response", None)
        return answer_text(response.answer) if response else "—"


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = [
        "pseudonym",
        "study",
        "condition",
        "status",
        "consent_version",
        "created_at",
        "finished_at",
    ]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "kind", "status", "excluded", "condition"]
    search_fields = ["pseudonym"]
    exclude = ["token_hash", "identity_hash"]
    inlines = [ExclusionInline, TrialInline]
    actions = ["revoke_tokens"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("studies.change_participant")

    @admin.action(description="Revoke access tokens (their links stop working)", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        revoked = sessions.revoke_tokens(queryset, by=request.user.get_username())
        self.message_user(request, f"{revoked} token(s) revoked; each is in the audit log.")


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = ["trial", "study", "selected", "rt_ms", "created_at"]
    list_filter = [("trial__participant__study", admin.RelatedOnlyFieldListFilter)]
    study_path = "trial__participant__study"
    list_select_related = ["trial__participant__study"]
    exclude = ["idempotency_key"]

    @admin.display(description="study")
    def study(self, response):
        return response.trial.participant.study

    @admin.display(description="answer")
    def selected(self, response):
        return answer_text(response.answer)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "study", "participant_pseudonym", "action"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "action"]
