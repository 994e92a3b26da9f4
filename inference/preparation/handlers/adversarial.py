"""Adversarial versions of the clean model inputs.

The attack starts from the 8-bit model input (stored as the clean stimulus), its result
is quantised to 8 bits and stored as a PNG, and the stored file is read back and
classified: success, distances and the prediction recorded are those of the file a
participant will see, not of the float tensor the attack produced."""

from dataclasses import dataclass

import torch
from django.core.files.storage import default_storage

from inference import engine
from inference.engine.attacks import AttackParams, run_attack
from inference.engine.attacks.quantization import l2_distance, linf_distance
from inference.models import AdversarialImage
from inference.preparation.handler import nothing_to_finalize
from inference.preparation.handlers.common import (
    decode,
    ensure_model_inputs,
    load_png_inputs,
    png_bytes,
    store,
    to_uint8_hwc,
)
from inference.preparation.handlers.predictions import STORED_K, topk_rows


def attack_params(job) -> AttackParams:
    return AttackParams.from_dict({k: v for k, v in job.params.items() if k != "label"})


def done_ids(job, image_ids) -> set[int]:
    return set(
        AdversarialImage.objects.filter(
            classifier=job.classifier, params_key=job.params_key, image_id__in=image_ids
        ).values_list("image_id", flat=True)
    )


def _labels(job, loaded, decoded, inputs, batch_size) -> tuple[torch.Tensor, list, dict[int, str]]:
    """What each untargeted attack moves away from: the clean prediction, or the true class."""
    if job.params["label"] == "true":
        labels = job.classifier.labels()
        keep = [i for i, image in enumerate(decoded) if image.true_class in labels.class_ids]
        errors = {
            image.pk: "no ground-truth class to attack" for i, image in enumerate(decoded) if i not in keep
        }
        indices = [labels.index(decoded[i].true_class) for i in keep]
        return torch.tensor(indices, dtype=torch.long), keep, errors
    _, top1 = engine.topk(loaded.model, inputs, k=1, batch_size=batch_size)
    return top1[:, 0], list(range(len(decoded))), {}


def process(job, loaded, images, batch_size: int) -> dict[int, str]:
    inputs, decoded, errors = decode(images, loaded)
    if not decoded:
        return errors
    ensure_model_inputs(job.classifier, decoded, inputs)
    labels, keep, label_errors = _labels(job, loaded, decoded, inputs, batch_size)
    errors.update(label_errors)
    if not keep:
        return errors
    decoded = [decoded[i] for i in keep]
    inputs = inputs[keep]
    result = run_attack(loaded.model, inputs, labels, attack_params(job), loaded.num_classes, batch_size)
    stored = store_and_reclassify(job, loaded, result.images, batch_size)
    predicted = stored.indices[:, 0]
    targets = result.targets
    success = predicted == targets if targets is not None else predicted != labels
    linf = linf_distance(stored.pixels, inputs.cpu())
    l2 = l2_distance(stored.pixels, inputs.cpu())
    save_rows(
        job,
        stored,
        [
            {
                "image": image,
                "attacked_class": int(labels[i]),
                "target_class": None if targets is None else int(targets[i]),
                "success": bool(success[i]),
                "linf": float(linf[i]),
                "l2": float(l2[i]),
            }
            for i, image in enumerate(decoded)
        ],
    )
    return errors


@dataclass
class Stored:
    """Adversarial images as stored: (name, sha256) per file, the pixels read back from
    the files, and the model's top-k on them."""

    files: list[tuple[str, str]]
    pixels: torch.Tensor
    indices: torch.Tensor
    rows: list[list[dict]]


def store_and_reclassify(job, loaded, adversarial: torch.Tensor, batch_size: int) -> Stored:
    """Store 8-bit images as PNG and classify what was stored: the file, not the tensor
    the attack produced, is the stimulus (shared with the bias handler)."""
    files = [store(png_bytes(pixels), "adversarial") for pixels in to_uint8_hwc(adversarial)]
    pixels = load_png_inputs([default_storage.open(name) for name, _ in files])
    k = min(STORED_K, loaded.num_classes)
    probs, indices = engine.topk(loaded.model, pixels.to(loaded.device), k=k, batch_size=batch_size)
    return Stored(files, pixels, indices, topk_rows(job.classifier.labels(), probs, indices))


def save_rows(job, stored: Stored, facts: list[dict]) -> None:
    """One AdversarialImage per stored file, with the facts the handler measured."""
    AdversarialImage.objects.bulk_create(
        [
            AdversarialImage(
                classifier=job.classifier,
                params=job.params,
                params_key=job.params_key,
                topk=stored.rows[i],
                file=stored.files[i][0],
                sha256=stored.files[i][1],
                width=stored.pixels.shape[3],
                height=stored.pixels.shape[2],
                job=job,
                **fact,
            )
            for i, fact in enumerate(facts)
        ],
        ignore_conflicts=True,
    )


# Every image's output is complete on its own: nothing to do over the whole set.
finalize = nothing_to_finalize
