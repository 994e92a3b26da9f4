"""Builders for test data: real rows through the real services, small and fast."""

import io
import random

import PIL.Image
from django.contrib.auth.models import Permission, User

from inference.labelsets import imagenet_1k
from inference.models import Classifier, Image, ImageSet, Prediction
from inference.services.images import Source, import_sources
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
    for image in Image.objects.filter(image_sets=images):
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


def study(tmp_path, n_images=6, per_participant=4, live=True, **fields) -> Study:
    images = image_set(tmp_path, n_images, name=fields.pop("set_name", "set"))
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
    if live:
        launch(created)
        created.refresh_from_db()
    return created


def researcher(username: str = "researcher") -> User:
    user = User.objects.create_user(username, password="pw-researcher", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_response"))
    return user
