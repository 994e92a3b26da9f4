"""Bias audits: the images a study asks about for each audited class, from what the
preparation stored — the class's MMD-critic prototypes and criticisms, and the images of
other classes the model finds closest to it (the adversarial-distance criticisms)."""

from inference.models import PrototypeSet
from inference.params import canonical_params
from inference.services.jobs import params_key
from studies.models import Study

Job = PrototypeSet.Method
# A short search: the closest images need a budget, not an exact minimum.
BIAS_SEARCH = {"max_eps": 16, "steps": 5}
# How many of the closest other-class images each audited class contributes.
CLOSEST = 8


def class_ids(study: Study) -> list[str]:
    """The audited classes as class ids; ValueError naming one the classifier lacks."""
    labels = study.classifier.labels()
    if not isinstance(study.audit_classes, list) or not study.audit_classes:
        raise ValueError('a bias audit needs audited classes, e.g. ["basketball"]')
    resolved = []
    for name in study.audit_classes:
        try:
            resolved.append(labels.resolve(str(name)))
        except ValueError as error:  # UnknownLabel
            raise ValueError(str(error)) from None
    return resolved


def bias_params(study: Study, class_id: str) -> dict:
    params = {"target_class": study.classifier.labels().index(class_id), **BIAS_SEARCH}
    return canonical_params("bias", params, study.classifier.num_classes)


def members(study: Study) -> dict[int, str]:
    """{image id: audited class id}, each image once (the first audited class that names it)."""
    labels = study.classifier.labels()
    found: dict[int, str] = {}
    for class_id in class_ids(study):
        index = labels.index(class_id)
        sets = PrototypeSet.objects.filter(
            image_set=study.image_set, classifier=study.classifier, class_index=index
        )
        chosen = []
        for row in sets.filter(method=Job.MMD_CRITIC).order_by("-created_at")[:1]:
            chosen += [*row.prototypes, *row.criticisms]
        key = params_key("bias", bias_params(study, class_id))
        for row in sets.filter(method=Job.ADVERSARIAL_DISTANCE, params_key=key):
            chosen += row.criticisms[:CLOSEST]
        for image_id in chosen:
            found.setdefault(image_id, class_id)
    return found
