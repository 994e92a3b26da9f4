"""Explanation maps of the clean model inputs, and of their adversarial versions.

Maps are computed in batches and stored raw (npy). The finishing step renders two
overlays of every map (inference.engine.saliency.normalize):
- `overlay`, with ONE scale per (classifier, method, parameters, target): the 99th
  percentile of relevance over this image set's clean maps, so that a clean and an
  adversarial map, or two study arms, can be compared by eye;
- `image_overlay`, with the map's own 99th percentile, so that every map uses the whole
  colour map.
A study picks one (Study.heatmap_normalisation); both are stored so that a researcher can
switch without preparing again."""

import io

import numpy as np
import PIL.Image
import torch
from django.core.files.storage import default_storage

from inference import engine
from inference.engine.render import overlay
from inference.engine.saliency import (
    explain,
    params_from_dict,
    reference_scale,
    streamed_reference_scale,
    to_intensity,
)
from inference.models import AdversarialImage, Explanation, ModelInput
from inference.preparation.handlers.common import (
    decode,
    ensure_model_inputs,
    load_png_inputs,
    png_bytes,
    store,
)
from inference.services.jobs import MAP_FIELDS, explanation_map_key, params_key

UPDATE_CHUNK = 500
# What finalize writes: both overlays of a map, each with the scale it was rendered at.
RENDERED = ["overlay", "overlay_sha256", "scale", "image_overlay", "image_overlay_sha256", "image_scale"]


def map_key(job) -> str:
    return explanation_map_key(job.params)


def attack_key(job) -> str:
    return params_key("adversarial", job.params["attack"])


def _with_adversarial(job) -> bool:
    return job.params["on"] == "clean_and_adversarial"


def done_ids(job, image_ids) -> set[int]:
    key = map_key(job)
    clean = set(
        Explanation.objects.filter(
            classifier=job.classifier, params_key=key, adversarial__isnull=True, image_id__in=image_ids
        ).values_list("image_id", flat=True)
    )
    if not _with_adversarial(job):
        return clean
    adversarial = set(
        Explanation.objects.filter(
            classifier=job.classifier,
            params_key=key,
            adversarial__params_key=attack_key(job),
            image_id__in=image_ids,
        ).values_list("image_id", flat=True)
    )
    return clean & adversarial


def process(job, loaded, images, batch_size: int) -> dict[int, str]:
    inputs, decoded, errors = decode(images, loaded)
    if not decoded:
        return errors
    ensure_model_inputs(job.classifier, decoded, inputs)
    _explain(job, loaded, decoded, inputs, [None] * len(decoded), batch_size)
    if _with_adversarial(job):
        found = {
            row.image_id: row
            for row in AdversarialImage.objects.filter(
                classifier=job.classifier, params_key=attack_key(job), image__in=decoded
            )
        }
        for image in decoded:
            if image.pk not in found:
                errors[image.pk] = "no adversarial image under these attack parameters: prepare them first"
        subjects = [found[image.pk] for image in decoded if image.pk in found]
        if subjects:
            pixels = load_png_inputs([row.file for row in subjects])
            _explain(job, loaded, [row.image for row in subjects], pixels, subjects, batch_size)
    return errors


def _explain(job, loaded, images, inputs: torch.Tensor, adversarial: list, batch_size: int) -> None:
    params = job.params
    if params["target"] == "predicted":
        _, top1 = engine.topk(loaded.model, inputs, k=1, batch_size=batch_size)
        targets = top1[:, 0]
    else:
        targets = torch.full((len(images),), params["target"], dtype=torch.long)
    maps = explain(
        loaded.model,
        inputs.to(loaded.device),
        targets.to(loaded.device),
        params["method"],
        params_from_dict(params["method"], params["method_params"]),
        seed=params["seed"],
        batch_size=batch_size,
    )
    key = map_key(job)
    rows = []
    for image, subject, target, raw in zip(images, adversarial, targets.tolist(), maps, strict=True):
        buffer = io.BytesIO()
        np.save(buffer, raw.numpy().astype("<f4"), allow_pickle=False)
        name, _ = store(buffer.getvalue(), "explanations", extension="npy")
        rows.append(
            Explanation(
                image=image,
                adversarial=subject,
                classifier=job.classifier,
                method=params["method"],
                params={field: params[field] for field in MAP_FIELDS},
                params_key=key,
                target_class=target,
                raw=name,
                job=job,
            )
        )
    Explanation.objects.bulk_create(rows, ignore_conflicts=True)


def _raw(row: Explanation) -> np.ndarray:
    with default_storage.open(row.raw.name) as handle:
        return np.load(handle, allow_pickle=False)


def finalize(job, loaded) -> None:
    key = map_key(job)
    rows = Explanation.objects.filter(
        classifier=job.classifier, params_key=key, image__in=job.image_set.images.all()
    ).select_related("adversarial")
    if _with_adversarial(job):
        rows = rows.filter(adversarial__isnull=True) | rows.filter(adversarial__params_key=attack_key(job))
    clean = [row for row in rows if row.adversarial_id is None]
    if not clean:
        return
    # Read one map at a time: a set of 50,000 clean maps would not fit in memory at once.
    scale = streamed_reference_scale(lambda: (_raw(row) for row in clean))
    model_inputs = {
        m.image_id: m
        for m in ModelInput.objects.filter(classifier=job.classifier, image__in=[r.image_id for r in clean])
    }
    changed = []
    for row in rows:
        subject = row.adversarial.file if row.adversarial_id else model_inputs[row.image_id].file
        pixels, raw = _pixels(subject), _raw(row)
        row.scale, row.image_scale = scale, reference_scale(raw)
        row.overlay, row.overlay_sha256 = _render(pixels, raw, row.scale)
        row.image_overlay, row.image_overlay_sha256 = _render(pixels, raw, row.image_scale)
        changed.append(row)
        if len(changed) == UPDATE_CHUNK:
            Explanation.objects.bulk_update(changed, RENDERED)
            changed = []
    Explanation.objects.bulk_update(changed, RENDERED)


def _render(pixels: np.ndarray, raw: np.ndarray, scale: float) -> tuple[str, str]:
    """The overlay of `raw` on the stimulus at this scale, stored: (name, sha256)."""
    intensity = to_intensity(torch.from_numpy(raw), scale).numpy()
    return store(png_bytes(overlay(pixels, intensity)), "explanations")


def _pixels(stored) -> np.ndarray:
    """A stored 8-bit PNG stimulus as uint8 [H, W, 3]."""
    with stored.open("rb") as handle:
        return np.asarray(PIL.Image.open(handle).convert("RGB"))
