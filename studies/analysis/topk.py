"""Top-k judgment (the paper's first study): the dataset's top-1 and top-k error against the
rectified error, in which a prediction counts as correct when the majority of valid raters
accepted it.

Only answered data trials of real, valid participants count. An item is an image (with its
top-k); items without a dataset label count for the rectified error but not for the
dataset's. Intervals are bootstrap intervals over items; per class, Wilson intervals
(a class's images are few binary outcomes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from studies.analysis import answers
from studies.analysis.statistics import Estimate, bootstrap_mean, wilson
from studies.models import Study

THRESHOLD = 0.5


@dataclass
class ItemVotes:
    """One image's top-k and how many valid raters accepted each label."""

    image_id: int
    name: str
    true_class: str
    true_label: str
    labels: list[dict]  # by rank: {"id", "text"}
    raters: int = 0
    accepted: dict[str, int] = field(default_factory=dict)

    def share(self, class_id: str) -> float:
        return self.accepted.get(class_id, 0) / self.raters if self.raters else 0.0

    def rectified_correct(self, top: int, threshold: float) -> bool:
        """Some label among the first `top` was accepted by more than `threshold` of raters."""
        return any(self.share(label["id"]) > threshold for label in self.labels[:top])

    def dataset_correct(self, top: int) -> bool:
        return self.true_class in [label["id"] for label in self.labels[:top]]


def votes(given: list[answers.Answer]) -> list[ItemVotes]:
    """Per image, its raters and how many accepted each label."""
    by_image: dict[int, ItemVotes] = {}
    for row in given:
        item = row.item
        image = item.image
        entry = by_image.get(image.pk)
        if entry is None:
            labels = [{"id": label["id"], "text": label["text"]} for label in item.labels]
            entry = by_image[image.pk] = ItemVotes(
                image.pk, image.original_name, image.true_class, image.true_label, labels, 0, defaultdict(int)
            )
        entry.raters += 1
        for class_id in row.answer.get("selected", []):
            entry.accepted[class_id] += 1
    return sorted(by_image.values(), key=lambda entry: entry.image_id)


def _rate(items: list[ItemVotes], wrong) -> Estimate:
    if not items:
        return Estimate.missing("no judged items")
    return bootstrap_mean([float(wrong(item)) for item in items])


def analyse(study: Study, threshold: float = THRESHOLD, given: list[answers.Answer] | None = None) -> dict:
    items = votes(answers.load(study, Study.TaskKind.TOPK_SELECT) if given is None else given)
    k = max((len(i.labels) for i in items), default=0)
    labelled = [i for i in items if i.true_class]
    mistakes = [i for i in labelled if not i.dataset_correct(1)]
    accepted_mistakes = sum(1 for i in mistakes if i.rectified_correct(1, threshold))
    rejected_truth = [
        {
            "image": i.name,
            "true_label": i.true_label,
            "accepted_by": i.accepted.get(i.true_class, 0),
            "raters": i.raters,
        }
        for i in labelled
        if i.dataset_correct(k) and i.share(i.true_class) <= threshold
    ]
    per_class = defaultdict(list)
    for i in labelled:
        per_class[(i.true_class, i.true_label)].append(i)
    return {
        "threshold": threshold,
        "k": k,
        "items": len(items),
        "raters": sum(i.raters for i in items),
        "dataset_top1_error": _rate(labelled, lambda i: not i.dataset_correct(1)),
        "dataset_topk_error": _rate(labelled, lambda i: not i.dataset_correct(k)),
        "rectified_top1_error": _rate(items, lambda i: not i.rectified_correct(1, threshold)),
        "rectified_topk_error": _rate(items, lambda i: not i.rectified_correct(k, threshold)),
        "mistakes_accepted": wilson(accepted_mistakes, len(mistakes))
        if mistakes
        else Estimate.missing("the model makes no top-1 mistake on judged, labelled images"),
        "dataset_label_rejected": rejected_truth,
        "per_class": [
            {
                "class_id": class_id,
                "label": label,
                "items": len(group),
                # Wilson intervals: a class has few images, and each is one binary outcome.
                "dataset_top1_error": wilson(sum(1 for i in group if not i.dataset_correct(1)), len(group)),
                "rectified_top1_error": wilson(
                    sum(1 for i in group if not i.rectified_correct(1, threshold)), len(group)
                ),
            }
            for (class_id, label), group in sorted(per_class.items())
        ],
    }
