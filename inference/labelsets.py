"""Class label sets, read without importing torch.

ImageNet-1k's class ids (WordNet ids, in the standard sorted order that classifiers
index by) and their lemmas ship as text files inside timm. They are read straight from
the installed package: importing timm would import torch, which the web tier must not.
"""

import importlib.util
from functools import cache
from pathlib import Path


class UnknownLabel(ValueError):
    pass


class LabelSet:
    """An ordered list of classes: position i is the classifier's output index i."""

    def __init__(self, name: str, class_ids: list[str], descriptions: list[str]):
        self.name = name
        self.class_ids = tuple(class_ids)
        self.descriptions = tuple(descriptions)
        # The first lemma is what participants read ("espresso", "tench").
        self.names = tuple(d.split(",")[0].strip() for d in descriptions)
        self._index_of = {class_id: i for i, class_id in enumerate(self.class_ids)}
        self._ids_by_lemma: dict[str, list[str]] = {}
        for class_id, description in zip(self.class_ids, self.descriptions, strict=True):
            for lemma in description.split(","):
                self._ids_by_lemma.setdefault(lemma.strip().lower(), []).append(class_id)

    def __len__(self) -> int:
        return len(self.class_ids)

    def resolve(self, text: str) -> str:
        """The class id for a WordNet id, a class index, or any of a class's lemmas.

        Raises UnknownLabel when nothing matches, or when a lemma names two classes
        (ImageNet has a few, such as 'crane' the bird and 'crane' the machine).
        """
        key = text.strip()
        if key in self._index_of:
            return key
        if key.isdigit() and int(key) < len(self.class_ids):
            return self.class_ids[int(key)]
        matches = self._ids_by_lemma.get(key.lower().replace("_", " "), [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UnknownLabel(f"label {text!r} is ambiguous: it names {', '.join(matches)}")
        raise UnknownLabel(f"label {text!r} is not a class of {self.name}")

    def index(self, class_id: str) -> int:
        return self._index_of[class_id]

    def name_of(self, class_id: str) -> str:
        return self.names[self._index_of[class_id]]


def _timm_info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("timm is not installed; it ships the ImageNet class names.")
    return Path(spec.submodule_search_locations[0]) / "data" / "_info"


@cache
def imagenet_1k() -> LabelSet:
    info = _timm_info_dir()
    class_ids = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        class_id, _, lemma = line.partition("\t")
        lemmas[class_id] = lemma
    return LabelSet("imagenet-1k", class_ids, [lemmas[c] for c in class_ids])


LABEL_SETS = {"imagenet-1k": imagenet_1k}


def get_label_set(name: str) -> LabelSet:
    try:
        return LABEL_SETS[name]()
    except KeyError:
        raise UnknownLabel(f"unknown label set {name!r}") from None
