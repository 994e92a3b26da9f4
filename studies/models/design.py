"""What a study is: its configuration, conditions, frozen versions and the items each
version shows."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


def new_seed() -> int:
    return secrets.randbelow(2**31)


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        PILOT = "pilot", "Pilot (participants are flagged as pilot data)"
        LIVE = "live"
        PAUSED = "paused"
        CLOSED = "closed"

    class ItemSelection(models.TextChoices):
        ALL = "all", "Every image of the set"
        MISTAKES = "mistakes", "The model's mistakes (top-1 is not the dataset's label)"
        AUDIT = "audit", "Bias audit: prototypes, criticisms and closest images of the audited classes"

    class OptionOrder(models.TextChoices):
        RANK = "rank", "By the model's rank"
        SHUFFLED = "shuffled", "Shuffled per trial (the order shown is stored)"

    class TaskKind(models.TextChoices):
        TOPK_SELECT = "topk_select", "Which of the model's top-k labels describe the image"
        LABEL_CHECK = "label_check", "Is the model's label a reasonable description (yes / no)"
        FORCED_CHOICE = "forced_choice", "Which of two labels fits better (dataset's or model's)"
        MANIPULATION_CHECK = "manipulation_check", "Was this image altered"

    class Stimuli(models.TextChoices):
        CLEAN = "clean", "Clean images"
        ADVERSARIAL = "adversarial", "Adversarial images (successful attacks only)"
        BOTH = "both", "Clean and adversarial images (never both versions to one participant)"

    class ExplanationDisplay(models.TextChoices):
        NONE = "none", "No explanation"
        SIDE_BY_SIDE = "side_by_side", "Heatmap beside the image"
        TOGGLE = "toggle", "Heatmap the participant can open (openings are logged)"
        EXAMPLES = "examples", "Prototype images of the predicted class"

    class ExplanationMethod(models.TextChoices):
        GRADCAM = "gradcam", "Grad-CAM"
        GRADIENT = "gradient", "Vanilla gradient"
        SMOOTHGRAD = "smoothgrad", "SmoothGrad"
        INTEGRATED_GRADIENTS = "integrated_gradients", "Integrated Gradients"
        OCCLUSION = "occlusion", "Occlusion"

    class HeatmapNormalisation(models.TextChoices):
        IMAGE_SET = "image_set", "Per image set (99th percentile of the set's clean maps)"
        IMAGE = "image", "Per image (each map's own range)"

    slug = models.SlugField(
        max_length=80,
        unique=True,
        # Plain text: the admin renders help texts as HTML, where "<slug>" would vanish.
        help_text="The participant link is /s/ followed by the slug, e.g. /s/my-study/.",
    )
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices, default=TaskKind.TOPK_SELECT)
    image_set = models.ForeignKey("inference.ImageSet", on_delete=models.PROTECT)
    classifier = models.ForeignKey("inference.Classifier", on_delete=models.PROTECT)
    k = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="How many of the model's top predictions participants judge.",
    )
    images_per_participant = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Trials in one session."
    )
    prompt = models.CharField(
        max_length=300,
        default="Which of these labels describe the image? Select every one that applies.",
        help_text="The question of top-k trials. The other kinds word their own question "
        "around the label they show.",
    )
    blocks = models.JSONField(
        default=list,
        blank=True,
        help_text="Within-subject levels, judged by every participant in blocks, e.g. "
        '[{"name": "without", "explanation_display": "none"}, {"name": "with", "explanation_display": '
        '"side_by_side"}] or, with clean and adversarial stimuli, [{"name": "clean", "stimuli": "clean"}, '
        '{"name": "attacked", "stimuli": "adversarial"}]. A Latin square rotates which images go to '
        "which level and the order of the blocks across participants.",
    )
    option_order = models.CharField(
        max_length=10,
        choices=OptionOrder.choices,
        default=OptionOrder.RANK,
        help_text="Order of the top-k labels ('none of these' stays last).",
    )
    item_selection = models.CharField(
        max_length=10,
        choices=ItemSelection.choices,
        default=ItemSelection.ALL,
        help_text="Which images become items. A bias audit asks, for each audited class, about its "
        "MMD-critic prototypes and criticisms and the other classes' images the model finds closest "
        "to it (smallest adversarial budget), each with the audited class's label.",
    )
    audit_classes = models.JSONField(
        default=list,
        blank=True,
        help_text='For a bias audit: class ids or names, e.g. ["basketball"] or ["n02802426"].',
    )
    stimuli = models.CharField(
        max_length=12,
        choices=Stimuli.choices,
        default=Stimuli.CLEAN,
        help_text="Adversarial and explanation studies show the image as the classifier sees it "
        "(resized and cropped), so that clean and adversarial versions differ only by the attack.",
    )
    one_version_per_image = models.BooleanField(
        default=True,
        help_text="Nobody sees both the clean and the adversarial version of one image. Untick only "
        "when the design compares the two within participants on purpose.",
    )
    attack = models.JSONField(
        default=dict,
        blank=True,
        help_text='The adversarial preparation whose images are shown, e.g. {"attack": "pgd", '
        '"eps": 8, "steps": 10} (budget in 1/255). Needed unless the stimuli are clean.',
    )
    explanation_display = models.CharField(
        max_length=20, choices=ExplanationDisplay.choices, default=ExplanationDisplay.NONE
    )
    explanation_method = models.CharField(
        max_length=30,
        choices=ExplanationMethod.choices,
        default=ExplanationMethod.GRADCAM,
        help_text="For heatmaps: the saliency method, for the class the model predicted.",
    )
    heatmap_normalisation = models.CharField(
        max_length=10,
        choices=HeatmapNormalisation.choices,
        default=HeatmapNormalisation.IMAGE_SET,
        help_text="How a heatmap's colours are scaled: by the image set's 99th percentile of relevance "
        "(maps comparable across images and conditions, as in the paper) or by each map's own range "
        "(every map uses the whole colour scale, as most published studies show them).",
    )
    display_scale = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
        help_text="Show stimuli enlarged by this whole number (nearest neighbour, so every pixel stays "
        "exact). A screen too small for it gets the largest whole number that fits; answers record "
        "the scale shown.",
    )
    examples_count = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="For example-based explanations: how many prototypes of the predicted class.",
    )
    ask_confidence = models.BooleanField(
        default=True, help_text="Yes/no and two-label answers also ask for a 1–5 confidence."
    )
    practice_trials = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(10)],
        help_text="Trials with feedback before the real ones; they are not data.",
    )
    gold_trials = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(10)],
        help_text="Trials like the others whose answer is known (the dataset's label, or whether the "
        "image was altered), for the gold_accuracy rule; they do not count toward K.",
    )
    attention_checks = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(10)],
        help_text="Instructed-response checks placed among the trials (never first, never adjacent).",
    )
    consent_text = models.TextField(
        help_text="Shown before anything else; participants must agree to continue."
    )
    consent_version = models.PositiveIntegerField(
        default=1, help_text="Raise it when the consent text changes; each answer records it."
    )
    instructions = models.TextField(blank=True, help_text="Shown after consent, before the first trial.")
    completion_code = models.CharField(
        max_length=50, default=new_completion_code, help_text="Shown when a participant completes."
    )
    redirect_url = models.URLField(
        blank=True, help_text="Where completed participants are sent (e.g. Prolific's completion URL)."
    )

    class Platform(models.TextChoices):
        ANONYMOUS = "anonymous", "Anonymous link"
        PROLIFIC = "prolific", "Prolific (PROLIFIC_PID, STUDY_ID, SESSION_ID)"
        MTURK = "mturk", "Amazon Mechanical Turk (workerId, assignmentId, hitId, turkSubmitTo)"
        CUSTOM = "custom", "Other: the identity parameter below"

    platform = models.CharField(
        max_length=20,
        choices=Platform.choices,
        default=Platform.ANONYMOUS,
        help_text="Where participants come from: decides which URL parameter identifies a recruit "
        "and where completed participants are sent back to.",
    )
    no_consent_code = models.CharField(
        max_length=50,
        blank=True,
        help_text="Shown to those who decline consent (e.g. Prolific's NOCONSENT code).",
    )
    no_consent_redirect_url = models.URLField(blank=True, help_text="Where those who decline consent go.")
    withdrawn_code = models.CharField(max_length=50, blank=True, help_text="Shown to those who withdraw.")
    withdrawn_redirect_url = models.URLField(blank=True, help_text="Where those who withdraw go.")
    judgments_per_item = models.PositiveIntegerField(
        default=0,
        help_text="K: judgments wanted per item and condition (0: no limit). Participants get the "
        "least-judged items; once every item has K, newcomers are told no work is left.",
    )
    session_timeout_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="A session idle this long gives back its place and its unanswered items.",
    )
    sessions_per_address_per_minute = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="New sessions one client address may start per minute. Raise it for a lab or "
        "classroom whose participants share one address.",
    )
    requests_per_token_per_minute = models.PositiveIntegerField(
        default=120,
        validators=[MinValueValidator(1)],
        help_text="Requests one participant may send per minute (a trial takes two or three).",
    )
    requests_per_address_per_minute = models.PositiveIntegerField(
        default=3000,
        validators=[MinValueValidator(1)],
        help_text="Requests all participants behind one client address may send per minute.",
    )
    full_code = models.CharField(max_length=50, blank=True, help_text="Shown when the study is full.")
    full_redirect_url = models.URLField(blank=True, help_text="Where arrivals go when the study is full.")
    exclusion_rules = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. [{"rule": "failed_attention", "threshold": 2, "mode": "live"}, {"rule": '
        '"median_rt", "threshold": 400, "mode": "posthoc"}]. Rules: failed_attention (count), '
        "gold_accuracy (0–1), median_rt (ms), same_answer (%), hidden_time (s). Live rules end the "
        "session as screened out; post-hoc rules flag it when it completes.",
    )
    screened_out_code = models.CharField(
        max_length=50, blank=True, help_text="Shown to those screened out (e.g. Prolific's screen-out code)."
    )
    screened_out_redirect_url = models.URLField(blank=True, help_text="Where those screened out go.")
    identity_param = models.CharField(
        max_length=50,
        blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_]+$")],
        help_text="For platform 'other': the URL parameter that identifies a recruit. "
        "A recruit who comes back resumes their session.",
    )
    seed = models.PositiveIntegerField(default=new_seed, help_text="Seeds every random choice.")
    current_version = models.ForeignKey(
        "StudyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    researchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="studies",
        help_text="Staff who may see and manage this study and its data (what they may do with it "
        "comes from their permissions). Whoever creates a study is added. Superusers and holders "
        "of the permission “Can access every study” see all studies.",
    )

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]
        permissions = [("access_all_studies", "Can access every study")]

    def __str__(self) -> str:
        return self.title

    @property
    def participant_path(self) -> str:
        return f"/s/{self.slug}/"


class Condition(models.Model):
    """A between-subjects condition: each participant runs under one, assigned at consent so
    that the conditions stay balanced by weight."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    name = models.SlugField(max_length=50, help_text="e.g. no-explanation, heatmap.")
    weight = models.PositiveIntegerField(default=1, help_text="Relative share of participants.")
    quota = models.PositiveIntegerField(
        default=0, help_text="Valid completed participants wanted (0: no limit)."
    )
    explanation_display = models.CharField(
        max_length=20,
        choices=Study.ExplanationDisplay.choices,
        blank=True,
        help_text="How explanations are shown in this condition (blank: as the study says).",
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="one_condition_name")]

    def __str__(self) -> str:
        return f"{self.study.slug}: {self.name}"


class StudyVersion(models.Model):
    """The configuration a participant actually ran under, frozen at launch."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="one_version_number")]

    def __str__(self) -> str:
        return f"{self.study.slug} v{self.number}"


class Item(models.Model):
    """One thing to judge: a stimulus (a source image or an adversarial version of it), the
    labels shown with it and its explanation, frozen at launch."""

    version = models.ForeignKey(StudyVersion, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey("inference.Image", on_delete=models.PROTECT, help_text="The source image.")
    prediction = models.ForeignKey("inference.Prediction", on_delete=models.PROTECT)
    adversarial = models.ForeignKey(
        "inference.AdversarialImage", null=True, blank=True, on_delete=models.PROTECT
    )
    # What the participant sees: {"url", "width", "height", "sha256"}.
    stimulus = models.JSONField()
    # topk_select: the model's top-k, by rank; label_check: the model's top-1 on the stimulus;
    # forced_choice: the dataset's label and the model's, in that order.
    # [{"id": "n07920052", "text": "espresso", "rank": 1, "prob": 0.95}, ...]
    labels = models.JSONField()
    explanation = models.ForeignKey("inference.Explanation", null=True, blank=True, on_delete=models.PROTECT)
    # For example-based explanations: the prototype images shown, as stimuli.
    examples = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "image"],
                condition=models.Q(adversarial__isnull=True),
                name="one_clean_item_per_image",
            ),
            models.UniqueConstraint(
                fields=["version", "adversarial"],
                condition=models.Q(adversarial__isnull=False),
                name="one_item_per_adversarial",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.image.original_name})"

    @property
    def altered(self) -> bool:
        return self.adversarial_id is not None
