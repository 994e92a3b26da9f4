"""Request validation and response shapes of the participant API (contract v1)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from studies.api.fields import StrictBoolean, StrictInteger, StrictNumber, StrictText, size_pair
from studies.services import trials

MAX_RT_MS = 3_600_000  # an hour on one image is not a reaction time
# A session that stays open for a day is over; hidden time past that is not a measurement.
MAX_HIDDEN_MS = 86_400_000


class Error(serializers.Serializer):
    """Every 4xx body (studies/api/errors.py); a service error may add fields of its own
    (a study that is not live names its status)."""

    detail = serializers.CharField(help_text="What is wrong, readable by a person.")
    code = serializers.CharField(help_text="Stable identifier of the problem, e.g. invalid_answer.")
    errors = serializers.DictField(
        required=False, help_text="On 400: the fields at fault and their messages (nested like the body)."
    )


class SessionRequest(serializers.Serializer):
    params = serializers.DictField(
        child=StrictText(max_length=500, allow_blank=True), required=False, default=dict
    )

    def validate_params(self, value):
        if len(value) > 50:
            raise serializers.ValidationError("Too many parameters (at most 50).")
        if any(len(name) > 100 for name in value):
            raise serializers.ValidationError("Parameter names are at most 100 characters.")
        return value


class Progress(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class SessionCreated(serializers.Serializer):
    token = serializers.CharField()
    participant = serializers.CharField()
    state = serializers.ChoiceField(["consent", "instructions", "trials", "done", "screened_out", "full"])
    progress = Progress()


class ConsentRequest(serializers.Serializer):
    version = StrictInteger(min_value=1, max_value=2**31 - 1)
    agree = StrictBoolean()


class ExplanationView(serializers.Serializer):
    """One opening of a toggled explanation, in ms from stimulus onset (open until the
    answer when close_ms is null)."""

    open_ms = StrictInteger(min_value=0, max_value=MAX_HIDDEN_MS)
    close_ms = StrictInteger(min_value=0, max_value=MAX_HIDDEN_MS, allow_null=True)


class ClientInfo(serializers.Serializer):
    """What the participant's browser measured, as static/js/trial/main.js sends it. Every
    field is optional and typed; fields not declared here are dropped, never stored, so
    nothing an export reads can hold a value of another type."""

    dpr = StrictNumber(min_value=0.01, max_value=100, required=False, help_text="devicePixelRatio")
    viewport = size_pair(required=False, help_text="Viewport [width, height] in CSS px.")
    displayed = size_pair(required=False, help_text="Stimulus shown at [width, height] in CSS px.")
    natural = size_pair(required=False, help_text="Stimulus file's [width, height] in px.")
    scaled = StrictBoolean(
        required=False, help_text="The stimulus or explanation was not shown pixel-exact at display_scale."
    )
    display_scale = StrictNumber(
        min_value=0.01,
        max_value=4,
        required=False,
        help_text="The scale the images were shown at: the study's whole number or the largest that "
        "fitted, or below 1 where even 1× did not fit the screen.",
    )
    sha256_checked = StrictBoolean(required=False, help_text="The images' sha256 was verified.")
    input = serializers.ChoiceField(["key", "mouse", "touch"], required=False)
    hidden_ms = StrictInteger(min_value=0, max_value=MAX_HIDDEN_MS, required=False)
    hidden_count = StrictInteger(min_value=0, max_value=100_000, required=False)
    explanation_views = ExplanationView(many=True, required=False, max_length=100)


@extend_schema_field(ClientInfo)
class ClientInfoField(serializers.Field):
    """`client`, validated by one ClientInfo made once. A DRF serializer deep-copies its
    declared fields whenever one is made: made anew for every answer, ClientInfo cost
    0.2 ms of the answer's CPU (bench/load.py); its run_validation keeps no state."""

    schema = ClientInfo()

    def to_internal_value(self, data):
        return self.schema.run_validation(data)


class ResponseRequest(serializers.Serializer):
    answer = serializers.DictField()
    rt_ms = StrictNumber(min_value=0, max_value=MAX_RT_MS)
    client = ClientInfoField(required=False, default=dict)
    key = serializers.RegexField(
        r"^[A-Za-z0-9_\-]{16,100}$",
        error_messages={"invalid": "The idempotency key must be 16–100 letters, digits, '-' or '_'."},
    )


class Feedback(serializers.Serializer):
    correct = serializers.BooleanField(allow_null=True)
    message = serializers.CharField()


class Receipt(serializers.Serializer):
    id = serializers.IntegerField()
    trial = serializers.IntegerField()
    progress = Progress()
    finished = serializers.BooleanField()
    feedback = Feedback(required=False, help_text="Practice trials only.")


class ProblemRequest(serializers.Serializer):
    reason = serializers.ChoiceField(trials.PROBLEMS)
    detail = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")


class ProblemReceipt(serializers.Serializer):
    trial = serializers.IntegerField()
    progress = Progress()
    finished = serializers.BooleanField()


class Consent(serializers.Serializer):
    version = serializers.IntegerField()
    text = serializers.CharField(help_text="As the researcher wrote it (Markdown).")
    html = serializers.CharField(help_text="Rendered and sanitised: safe to insert as HTML.")


class Completion(serializers.Serializer):
    outcome = serializers.ChoiceField(["completed", "no_consent", "withdrawn", "screened_out", "full"])
    code = serializers.CharField(allow_blank=True)
    redirect_url = serializers.CharField(allow_blank=True)


class SessionState(serializers.Serializer):
    participant = serializers.CharField()
    state = serializers.CharField()
    progress = Progress()
    consent = Consent()
    instructions = serializers.CharField(allow_blank=True)
    instructions_html = serializers.CharField(allow_blank=True)
    completion = Completion(allow_null=True)
    preview = serializers.BooleanField(
        help_text="A researcher's preview (the admin's signed link): answers kept apart, never counted."
    )


class StateReply(serializers.Serializer):
    state = serializers.CharField()
    progress = Progress(required=False)
    completion = Completion(allow_null=True, required=False)


class Stimulus(serializers.Serializer):
    url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    sha256 = serializers.CharField()


class Option(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()


class Legend(serializers.Serializer):
    stops = serializers.ListField(
        child=serializers.CharField(),
        help_text='The heatmap\'s colour map, low to high relevance, as CSS gradient stops ("#00224e 0%").',
    )


class Explanation(serializers.Serializer):
    display = serializers.ChoiceField(["side_by_side", "toggle", "examples"])
    method = serializers.CharField(allow_null=True)
    label = Option(help_text="The label it explains: the model's, which the trial asks about.")
    caption = serializers.CharField()
    image = Stimulus(allow_null=True, help_text="The heatmap overlay, at the stimulus size.")
    examples = Stimulus(many=True, help_text="Prototype images of the predicted class.")
    legend = Legend(required=False, help_text="Heatmaps only: the colours' legend.")


class TrialObject(serializers.Serializer):
    id = serializers.IntegerField()
    index = serializers.IntegerField()
    kind = serializers.ChoiceField(
        ["topk_select", "label_check", "forced_choice", "manipulation_check", "attention"]
    )
    prompt = serializers.CharField()
    image = Stimulus()
    explanation = Explanation(allow_null=True)
    options = Option(many=True)
    multi = serializers.BooleanField()
    confidence = serializers.BooleanField(help_text="A 1–5 confidence is part of the answer.")
    practice = serializers.BooleanField(help_text="Not data: the receipt carries feedback.")
    display_scale = serializers.IntegerField(
        min_value=1, max_value=4, help_text="Show the images enlarged by this whole number where they fit."
    )


class NextReply(serializers.Serializer):
    trial = TrialObject(allow_null=True)
    upcoming = serializers.ListField(child=serializers.CharField(), required=False)
    progress = Progress()
    completion = Completion(required=False)
