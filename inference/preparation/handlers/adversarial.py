"""Adversarial versions of the clean model inputs.

The attack starts from the 8-bit model input (stored as the clean stimulus), its result
is quantised to 8 bits and stored as a PNG, and the stored file is read back and
classified: success, distances and the prediction recorded are those of the file a
participant will see, not of the float tensor the attack produced."""

import torch

from inference import engine
from inference.engine.attacks import AttackParams, run_attack
from inference.engine.attacks.quantize import l2_distance, linf_distance
from inference.models import AdversarialImage
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


def _labels(job, loaded, decoded, inputs) -> tuple[torch.Tensor, list, dict[int, str]]:
    """What each untargeted attack moves away from: the clean prediction, or the true class."""
    if job.params["label"] == "true":
        labels = job.classifier.labels()
        keep = [i for i, image in enumerate(decoded) if image.true_class in labels.class_ids]
        errors = {
            image.pk: "no ground-truth class to attack" for i, image in enumerate(decoded) if i not in keep
        }
        indices = [labels.index(decoded[i].true_class) for i in keep]
        return torch.tensor(indices, dtype=torch.long), keep, errors
    _, top1 = engine.topk(loaded.model, inputs, k=1, batch_size=len(decoded))
    return top1[:, 0], list(range(len(decoded))), {}


def process(job, loaded, images) -> dict[int, str]:
    inputs, decoded, errors = decode(images, loaded)
    if not decoded:
        return errors
    ensure_model_inputs(job.classifier, decoded, inputs)
    labels, keep, label_errors = _labels(job, loaded, decoded, inputs)
    errors.update(label_errors)
    if not keep:
        return errors
    decoded = [decoded[i] for i in keep]
    inputs = inputs[keep]
    params = attack_params(job)
    result = run_attack(loaded.model, inputs, labels, params, loaded.num_classes, batch_size=len(decoded))
    stored = [store(png_bytes(pixels), "adversarial") for pixels in to_uint8_hwc(result.images)]
    _save(job, loaded, decoded, inputs, labels, result, stored)
    return errors


def _save(job, loaded, decoded, inputs, labels, result, stored) -> None:
    from django.core.files.storage import default_storage

    # Re-read what was stored: the file, not the tensor, is the stimulus.
    reread = load_png_inputs([default_storage.open(name) for name, _ in stored])
    probs, indices = engine.topk(
        loaded.model, reread.to(loaded.device), k=min(STORED_K, loaded.num_classes), batch_size=len(decoded)
    )
    rows = topk_rows(job.classifier.labels(), probs, indices)
    targets = result.targets
    predicted = indices[:, 0]
    success = predicted == targets if targets is not None else predicted != labels
    linf = linf_distance(reread, inputs.cpu())
    l2 = l2_distance(reread, inputs.cpu())
    AdversarialImage.objects.bulk_create(
        [
            AdversarialImage(
                image=image,
                classifier=job.classifier,
                params=job.params,
                params_key=job.params_key,
                attacked_class=int(labels[i]),
                target_class=None if targets is None else int(targets[i]),
                success=bool(success[i]),
                linf=float(linf[i]),
                l2=float(l2[i]),
                topk=rows[i],
                file=stored[i][0],
                sha256=stored[i][1],
                width=reread.shape[3],
                height=reread.shape[2],
                job=job,
            )
            for i, image in enumerate(decoded)
        ],
        ignore_conflicts=True,
    )
