"""Task kinds: what each kind of trial asks, which options it shows, which answers it
accepts, and the feedback a practice trial gives.

Answers come in the two shapes of contract v1: {"selected": [option ids]} for
topk_select, {"choice": option id, "confidence": 1..5} for the others. Confidence is
required exactly when the trial asks for it, and refused otherwise; anything else in an
answer (an option not shown, two choices, an unknown field) is refused, so a stored
answer always means what the participant was shown.

Practice, gold and attention trials carry their expected answer, which stays on the
server: for practice and gold it follows from the dataset's label (or whether the image was
altered), for attention checks it is the option the prompt asked for.

Practice and gold trials ask what the real trials ask: about the model's own labels, the
ones its explanation explains (services/presentation.py). A practice question about another
label beside a heatmap of the model's label would teach a task the study never asks, and a
gold trial that asked one would stand out from the trials it hides among.
"""

import random
from dataclasses import dataclass

from studies.models import Item, Study, Trial
from studies.services.errors import Invalid

Kind = Study.TaskKind
ATTENTION = "attention"
NONE_OPTION = {"id": "none", "text": "None of these"}
YES = {"id": "yes", "text": "Yes"}
NO = {"id": "no", "text": "No"}
CONFIDENCE_KINDS = (Kind.LABEL_CHECK, Kind.FORCED_CHOICE, Kind.MANIPULATION_CHECK)
ATTENTION_OPTIONS = 3
# Kinds whose practice needs the dataset's label to give feedback.
NEEDS_TRUE_LABEL = (Kind.TOPK_SELECT, Kind.LABEL_CHECK, Kind.FORCED_CHOICE)


@dataclass(frozen=True)
class Question:
    prompt: str
    options: list[dict]
    expected: dict | None = None


def quoted(text: str) -> str:
    return f"“{text}”"


def _option(label: dict) -> dict:
    return {"id": label["id"], "text": label["text"]}


def _true_label(item: Item) -> dict:
    return {"id": item.image.true_class, "text": item.image.true_label or item.image.true_class}


def model_label(item: Item) -> dict:
    """The model's top-1 on the stimulus shown (the adversarial file when it is one)."""
    top = (item.adversarial.topk if item.adversarial_id else item.prediction.topk)[0]
    return {"id": top["class_id"], "text": top["label"]}


def question(kind: str, item: Item, config: dict, rng: random.Random, known: bool) -> Question:
    """The prompt and options of a trial of `kind` on `item`; `known` (practice and gold
    trials) adds the expected answer, from the dataset's label."""
    if kind == Kind.TOPK_SELECT:
        labels = [_option(label) for label in item.labels]
        if config.get("option_order") == Study.OptionOrder.SHUFFLED:
            rng.shuffle(labels)  # the order shown is what the trial stores
        options = labels + [NONE_OPTION]
        expected = None
        if known:
            truth = item.image.true_class
            expected = {"selected": [truth] if truth in [o["id"] for o in options] else []}
        return Question(config["prompt"], options, expected)
    if kind == Kind.LABEL_CHECK:
        label = _option(item.labels[0])
        expected = {"choice": "yes" if label["id"] == item.image.true_class else "no"} if known else None
        prompt = f"Is {quoted(label['text'])} a reasonable description of this image?"
        return Question(prompt, [YES, NO], expected)
    if kind == Kind.FORCED_CHOICE:
        dataset, model = _option(item.labels[0]), _option(item.labels[1])
        options = [dataset, model]
        rng.shuffle(options)  # left/right placement is stored with the trial
        expected = {"choice": dataset["id"]} if known else None
        return Question("Which label describes this image better?", options, expected)
    if kind == Kind.MANIPULATION_CHECK:
        expected = {"choice": "yes" if item.altered else "no"} if known else None
        return Question(
            "Was this image digitally altered (manipulated to fool a computer)?", [YES, NO], expected
        )
    raise ValueError(f"unknown task kind {kind!r}")


def attention_question(item: Item, rng: random.Random, decoys: list[dict]) -> Question:
    """A fair instructed-response check: the prompt names the option to pick."""
    pool = {label["id"]: label for label in [*item.labels, *decoys]}
    options = [_option(label) for label in rng.sample(list(pool.values()), min(ATTENTION_OPTIONS, len(pool)))]
    target = rng.choice(options)
    prompt = f"Attention check: whatever the image shows, please select {quoted(target['text'])}."
    return Question(prompt, options, {"choice": target["id"]})


def asks_confidence(trial: Trial, config: dict) -> bool:
    return trial.kind in CONFIDENCE_KINDS and config.get("ask_confidence", False)


def _invalid(message: str, field_error: str) -> Invalid:
    return Invalid(message, code="invalid_answer", errors={"answer": [field_error]})


def validate_answer(trial: Trial, answer: dict, config: dict) -> dict:
    """The answer in canonical form, or Invalid naming what is wrong."""
    if trial.kind == Kind.TOPK_SELECT:
        return _validate_selected(trial, answer)
    return _validate_choice(trial, answer, asks_confidence(trial, config))


def _validate_selected(trial: Trial, answer: dict) -> dict:
    if set(answer) != {"selected"}:
        raise _invalid(
            "This answer must be a list of selected options.", "expected exactly the field selected"
        )
    selected = answer["selected"]
    if not isinstance(selected, list) or not selected:
        raise _invalid("Select at least one option.", "selected must be a non-empty list of option ids")
    if not all(isinstance(option, str) for option in selected) or len(set(selected)) != len(selected):
        raise _invalid("Options must be distinct option ids.", "selected must hold distinct strings")
    known = [option["id"] for option in trial.options]
    unknown = [option for option in selected if option not in known]
    if unknown:
        raise Invalid(
            f"Unknown option ids: {', '.join(unknown)}.",
            code="invalid_answer",
            errors={"answer": [f"unknown option id {option!r}" for option in unknown]},
        )
    if NONE_OPTION["id"] in selected and len(selected) > 1:
        raise _invalid("'None of these' cannot be combined with other options.", "'none' excludes the others")
    return {"selected": sorted(selected, key=known.index)}


def _validate_choice(trial: Trial, answer: dict, confidence: bool) -> dict:
    fields = {"choice", "confidence"} if confidence else {"choice"}
    if set(answer) != fields:
        raise _invalid(
            "This answer must be one choice" + (" and a confidence from 1 to 5." if confidence else "."),
            f"expected exactly the fields {', '.join(sorted(fields))}",
        )
    choice = answer["choice"]
    if not isinstance(choice, str) or choice not in [option["id"] for option in trial.options]:
        raise _invalid(f"Unknown option id {choice!r}.", "choice must be one of the option ids shown")
    canonical = {"choice": choice}
    if confidence:
        value = answer["confidence"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise _invalid("Confidence must be a whole number from 1 to 5.", "confidence must be 1..5")
        canonical["confidence"] = value
    return canonical


# What each field of a stored answer must be for the rest of the code to read it.
ANSWER_FIELDS = {
    "selected": lambda value: isinstance(value, list) and all(isinstance(i, str) for i in value),
    "choice": lambda value: isinstance(value, str),
    "confidence": lambda value: isinstance(value, int) and not isinstance(value, bool),
}


def read_answer(stored) -> tuple[dict, dict]:
    """A stored answer as (typed, off_type), whatever is stored.

    `typed` holds the fields of the two answer shapes whose value has the field's type;
    `off_type` the fields present with a value of another type ("answer" when the whole
    answer is not an object). Answers taken through the API are always typed (see
    validate_answer); this lets exports and analyses read any row, one written before
    answers were typed or edited in the database, without raising."""
    if not isinstance(stored, dict):
        return {}, {"answer": stored}
    typed, off_type = {}, {}
    for field, has_type in ANSWER_FIELDS.items():
        if field in stored:
            (typed if has_type(stored[field]) else off_type)[field] = stored[field]
    return typed, off_type


def typed_answer(stored) -> dict:
    return read_answer(stored)[0]


def is_correct(trial: Trial, answer: dict) -> bool | None:
    """Whether the answer is the expected one (None when the trial expects nothing or, for
    top-k practice, when the dataset's label was not among the options). Any stored answer
    may be given: fields not of their type count as not given."""
    answer = typed_answer(answer)
    if not trial.expected:
        return None
    if "choice" in trial.expected:
        return answer.get("choice") == trial.expected["choice"]
    truth = trial.expected["selected"]
    return truth[0] in answer.get("selected", []) if truth else None


def feedback(trial: Trial, answer: dict) -> dict:
    """What a practice trial tells the participant after their answer."""
    item = trial.item
    correct = is_correct(trial, answer)
    if trial.kind == Kind.MANIPULATION_CHECK:
        message = "This image was altered." if item.altered else "This image was not altered."
    elif trial.kind == Kind.LABEL_CHECK and trial.expected["choice"] == "no":
        # Names both labels and claims no more than the dataset does: the label asked about
        # is the model's, which may be a near miss rather than plainly wrong.
        truth, asked = quoted(_true_label(item)["text"]), quoted(item.labels[0]["text"])
        message = f"The dataset's label for this image is {truth}, not {asked}."
    else:
        message = f"The dataset's label for this image is {quoted(_true_label(item)['text'])}."
    return {"correct": correct, "message": message}
