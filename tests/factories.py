"""Builders for test data: real rows through the real services, small and fast."""

import hashlib
import io
import random

import PIL.Image
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from inference.labelsets import imagenet_1k
from inference.models import (
    AdversarialImage,
    Classifier,
    Explanation,
    Image,
    ImageSet,
    ModelInput,
    Prediction,
    PrototypeSet,
)
from inference.services.images import Source, import_sources
from inference.services.jobs import explanation_map_key, params_key
from studies.models import Study
from studies.services.launch import launch

BUNDLED_PREPROCESSING = {
    "resize": 256,
    "crop": 224,
    "interpolation": "bicubic",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
}


def png_bytes(width=32, height=24, color=(200, 30, 30), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new(mode, (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def image_files(folder, n: int, seed: int = 0) -> list:
    """n distinct small PNG files (distinct content, so no two deduplicate)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        path = folder / f"img{i:03d}.png"
        color = (rng.randrange(256), rng.randrange(256), i % 256)
        path.write_bytes(png_bytes(32 + i % 7, 24 + i % 5, color))
        paths.append(path)
    return paths


def image_set(tmp_path, n: int = 6, name: str = "set", labels: list[str] | None = None) -> ImageSet:
    images = ImageSet.objects.create(name=name)
    sources = [
        Source(path, (labels or [""] * n)[i], path.name)
        for i, path in enumerate(image_files(tmp_path / name, n))
    ]
    report = import_sources(sources, images, imagenet_1k(), max_pixels=10_000_000)
    assert not report.rejected, report.rejected
    return images


def classifier(name: str = "efficientnet-lite0") -> Classifier:
    existing = Classifier.objects.filter(name=name).first()
    if existing:
        return existing
    return Classifier.objects.create(
        name=name,
        source=Classifier.Source.BUNDLED,
        architecture="tf_efficientnet_lite0",
        weights_path="/nonexistent/for-api-tests.pth",
        weights_sha256="0" * 64,
        preprocessing=BUNDLED_PREPROCESSING,
        num_classes=1000,
    )


def predictions(images: ImageSet, clf: Classifier, k: int = 5, seed: int = 0) -> list[Prediction]:
    """Stored top-k rows as a worker would write them (class indices drawn at random)."""
    labels = imagenet_1k()
    rng = random.Random(seed)
    rows = []
    # Images shared with another set keep the prediction they already have.
    for image in Image.objects.filter(image_sets=images).exclude(predictions__classifier=clf):
        indices = rng.sample(range(1000), k)
        probs = sorted((rng.random() for _ in range(k)), reverse=True)
        total = sum(probs) * 1.2
        topk = [
            {
                "rank": rank + 1,
                "index": index,
                "class_id": labels.class_ids[index],
                "label": labels.names[index],
                "prob": round(prob / total, 6),
            }
            for rank, (index, prob) in enumerate(zip(indices, probs, strict=True))
        ]
        rows.append(Prediction.objects.create(image=image, classifier=clf, topk=topk))
    return rows


def study(tmp_path, n_images=6, per_participant=4, live=True, prepared=False, **fields) -> Study:
    """A study on n small images with stored predictions; `prepared` also stores what its
    other preparations would (see prepare_stimuli)."""
    labels = fields.pop("labels", None)
    images = image_set(tmp_path, n_images, name=fields.pop("set_name", "set"), labels=labels)
    clf = classifier()
    predictions(images, clf)
    defaults = {
        "slug": "topk",
        "title": "Top-k study",
        "image_set": images,
        "classifier": clf,
        "images_per_participant": per_participant,
        "consent_text": "You agree to take part.",
        "instructions": "Tick the labels that fit.",
        "completion_code": "CODE-123",
    }
    defaults.update(fields)
    created = Study.objects.create(**defaults)
    if prepared:
        prepare_stimuli(created)
    if live:
        launch(created)
        created.refresh_from_db()
    return created


def researcher(username: str = "researcher", every_study: bool = True, *codenames: str) -> User:
    """Staff who may read responses: of every study (a lab's lead), or of the studies they
    are listed on. `codenames`: more permissions of the studies app."""
    existing = User.objects.filter(username=username).first()
    if existing:
        return existing
    user = User.objects.create_user(username, password="pw-researcher", is_staff=True)
    wanted = ["view_response", *codenames] + (["access_all_studies"] if every_study else [])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="studies", codename__in=wanted)
    )
    return user


def _stored_png(folder: str, width: int, height: int, color) -> tuple[str, str]:
    data = png_bytes(width, height, color)
    sha = hashlib.sha256(data).hexdigest()
    return default_storage.save(f"{folder}/{sha}.png", ContentFile(data)), sha


def _random_topk(rng: random.Random, k: int = 5) -> list[dict]:
    labels = imagenet_1k()
    return [
        {"rank": rank + 1, "index": i, "class_id": labels.class_ids[i], "label": labels.names[i], "prob": 0.1}
        for rank, i in enumerate(rng.sample(range(1000), k))
    ]


def prepare_stimuli(study: Study, failed_attacks: int = 0, seed: int = 1) -> None:
    """The rows the preparation jobs of `study` would store beyond its predictions (model
    views, adversarial images, heatmaps, prototypes), with small distinct PNG files. The
    first `failed_attacks` attacks do not change the prediction."""
    from studies.services import stimuli

    rng = random.Random(seed)
    images = list(study.image_set.images.order_by("id"))
    clf = study.classifier
    for n, image in enumerate(images):
        name, sha = _stored_png("stimuli", 24, 24, (n, 100, 200))
        ModelInput.objects.create(image=image, classifier=clf, file=name, sha256=sha, width=24, height=24)
    adversarial = []
    if stimuli.uses_adversarial(study):
        params = stimuli.attack_params(study)
        for n, image in enumerate(images):
            name, sha = _stored_png("stimuli", 24, 24, (n, 10, 20))
            clean = Prediction.objects.get(image=image, classifier=clf).topk
            success = n >= failed_attacks
            adversarial.append(
                AdversarialImage.objects.create(
                    image=image,
                    classifier=clf,
                    file=name,
                    sha256=sha,
                    width=24,
                    height=24,
                    params=params,
                    params_key=params_key("adversarial", params),
                    attacked_class=clean[0]["index"],
                    success=success,
                    linf=8.0,
                    l2=1.5,
                    topk=_random_topk(rng) if success else clean,
                )
            )
    if stimuli.uses_heatmaps(study):
        params = stimuli.explanation_params(study)
        key = explanation_map_key(params)
        subjects = [(image, None) for image in images] + [(row.image, row) for row in adversarial]
        for n, (image, row) in enumerate(subjects):
            # Both overlays, as the explanations job renders them: the set's scale and the map's own.
            name, sha = _stored_png("explanations", 24, 24, (n, 250, 0))
            own_name, own_sha = _stored_png("explanations", 24, 24, (n, 250, 128))
            Explanation.objects.create(
                image=image,
                adversarial=row,
                classifier=clf,
                method=params["method"],
                params={"method": params["method"]},
                params_key=key,
                target_class=0,
                raw=name,
                overlay=name,
                overlay_sha256=sha,
                scale=0.5,
                image_overlay=own_name,
                image_overlay_sha256=own_sha,
                image_scale=0.25 + n / 100,
            )
    if stimuli.uses_examples(study):
        # Every predicted class gets the set's first three images as its prototypes.
        predicted = {p.topk[0]["index"] for p in Prediction.objects.filter(classifier=clf)}
        predicted |= {row.topk[0]["index"] for row in adversarial}
        for index in predicted:
            PrototypeSet.objects.create(
                image_set=study.image_set,
                classifier=clf,
                class_index=index,
                class_id=imagenet_1k().class_ids[index],
                method=PrototypeSet.Method.MMD_CRITIC,
                params={},
                params_key="test",
                prototypes=[image.pk for image in images[:3]],
            )
