"""The bias explorer's galleries for one class of an image set under a classifier, from
stored rows only (numpy, no torch):

- MMD-critic prototypes and criticisms of the class (the first criticism mode);
- the images of other classes the model finds closest to the class: smallest adversarial
  budget to be predicted as it (the second mode, from a `bias` job);
- the images of other classes nearest to the class in feature space (cosine similarity to
  the mean of its members' penultimate features);
- how often images are predicted as the class, per value of each researcher's tag, with
  the counts behind every rate.
"""

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from inference.models import Embedding, Image, ImageTag, Prediction, PrototypeSet
from inference.services.examples import class_members

GALLERY = 12


@dataclass
class Tile:
    image: Image
    note: str = ""


@dataclass
class Explorer:
    class_id: str
    class_index: int
    label: str
    prototypes: list[Tile] = field(default_factory=list)
    criticisms: list[Tile] = field(default_factory=list)
    closest_by_attack: list[Tile] = field(default_factory=list)
    nearest_in_features: list[Tile] = field(default_factory=list)
    tag_rates: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _images(ids: list[int]) -> list[Image]:
    found = Image.objects.in_bulk(ids)
    return [found[i] for i in ids if i in found]


def explore(classifier, image_set, class_text: str) -> Explorer:
    """ValueError (UnknownLabel) when the classifier has no such class."""
    labels = classifier.labels()
    class_id = labels.resolve(class_text)
    index = labels.index(class_id)
    found = Explorer(class_id, index, labels.name_of(class_id))
    sets = PrototypeSet.objects.filter(image_set=image_set, classifier=classifier, class_index=index)
    mmd = sets.filter(method=PrototypeSet.Method.MMD_CRITIC).order_by("-created_at").first()
    if mmd is None:
        found.missing.append("no prototypes yet: prepare features and prototypes for this image set")
    else:
        found.prototypes = [Tile(i) for i in _images(mmd.prototypes)]
        found.criticisms = [Tile(i) for i in _images(mmd.criticisms)]
    attack = sets.filter(method=PrototypeSet.Method.ADVERSARIAL_DISTANCE).order_by("-created_at").first()
    if attack is None:
        found.missing.append("no closest images by attack yet: prepare a bias job for this class")
    else:
        ranked = _images(attack.criticisms[:GALLERY])
        found.closest_by_attack = [Tile(i, f"budget {attack.scores.get(str(i.pk), 0):g}/255") for i in ranked]
    found.nearest_in_features = _nearest_in_features(classifier, image_set, index, found)
    found.tag_rates = _tag_rates(classifier, image_set, index)
    return found


def _nearest_in_features(classifier, image_set, index: int, found: Explorer) -> list[Tile]:
    members = set(class_members(classifier, image_set, index))
    rows = {
        e.image_id: e.array()
        for e in Embedding.objects.filter(
            classifier=classifier, layer=Embedding.PENULTIMATE, image__in=image_set.images.all()
        )
    }
    inside = [rows[i] for i in members if i in rows]
    others = sorted(i for i in rows if i not in members)
    if not inside or not others:
        found.missing.append("no features of the class and of other images yet: prepare features")
        return []
    centre = np.mean(inside, axis=0)
    bank = np.stack([rows[i] for i in others]).astype(np.float64)
    norms = np.linalg.norm(bank, axis=1) * np.linalg.norm(centre)
    similarity = np.divide(bank @ centre, norms, out=np.zeros(len(others)), where=norms > 0)
    order = np.lexsort((np.array(others), -similarity))[:GALLERY]
    images = Image.objects.in_bulk([others[i] for i in order])
    return [Tile(images[others[i]], f"cosine {similarity[i]:.2f}") for i in order]


def _tag_rates(classifier, image_set, index: int) -> list[dict]:
    predicted = {
        p.image_id: p.topk[0]["index"] == index
        for p in Prediction.objects.filter(classifier=classifier, image__in=image_set.images.all())
    }
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for tag in ImageTag.objects.filter(image__in=image_set.images.all()):
        if tag.image_id in predicted:
            cell = counts[(tag.name, tag.value)]
            cell[0] += predicted[tag.image_id]
            cell[1] += 1
    return [
        {"tag": name, "value": value, "predicted": hits, "images": total}
        for (name, value), (hits, total) in sorted(counts.items())
    ]
