"""Request validation and response shapes of the participant API (contract v1)."""

from rest_framework import serializers

from studies.services import trials

MAX_RT_MS = 3_600_000  # an hour on one image is not a reaction time


def has_null_character(value) -> bool:
    """Whether any string in a JSON value, dict keys included, holds U+0000. PostgreSQL
    stores none (jsonb refuses it with an error, so it must be refused as invalid input
    first); CharField refuses it in plain strings, this covers free-form dicts."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False


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
        child=serializers.CharField(max_length=500, allow_blank=True), required=False, default=dict
    )

    def validate_params(self, value):
        if len(value) > 50:
            raise serializers.ValidationError("Too many parameters (at most 50).")
        if has_null_character(list(value)):
            raise serializers.ValidationError("Parameter names must not contain null characters.")
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
    version = serializers.IntegerField(min_value=1)
    agree = serializers.BooleanField()


class ResponseRequest(serializers.Serializer):
    answer = serializers.DictField()
    rt_ms = serializers.FloatField(min_value=0, max_value=MAX_RT_MS)
    client = serializers.DictField(required=False, default=dict)
    key = serializers.RegexField(
        r"^[A-Za-z0-9_\-]{16,100}$",
        error_messages={"invalid": "The idempotency key must be 16–100 letters, digits, '-' or '_'."},
    )

    def validate_client(self, value):
        if len(str(value)) > 2000:
            raise serializers.ValidationError("Client information is too large.")
        if has_null_character(value):
            raise serializers.ValidationError("Client information must not contain null characters.")
        return value


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


class Explanation(serializers.Serializer):
    display = serializers.ChoiceField(["side_by_side", "toggle", "examples"])
    method = serializers.CharField(allow_null=True)
    caption = serializers.CharField()
    image = Stimulus(allow_null=True, help_text="The heatmap overlay, at the stimulus size.")
    examples = Stimulus(many=True, help_text="Prototype images of the predicted class.")


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


class NextReply(serializers.Serializer):
    trial = TrialObject(allow_null=True)
    upcoming = serializers.ListField(child=serializers.CharField(), required=False)
    progress = Progress()
    completion = Completion(required=False)
