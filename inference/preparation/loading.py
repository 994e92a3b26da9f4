"""Loading a registered classifier in a worker: once per process, pinned to its sha256."""

from functools import cache

from django.conf import settings

from inference import engine
from inference.models import Classifier


class PreparationError(Exception):
    """A permanent failure of a whole job: retrying cannot help; the message says why."""


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        # TF32 convolutions change saliency maps by up to a third of their peak between
        # batch sizes and against the CPU; stored stimuli must be reproducible, so workers
        # compute in full float32 (top-k still uses float16 autocast, by design).
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return name


def device() -> str:
    return resolve_device(settings.SECONDLOOK_DEVICE)


def model_batch_size() -> int:
    if device().startswith("cuda"):
        return settings.SECONDLOOK_MODEL_BATCH_CUDA
    return settings.SECONDLOOK_MODEL_BATCH


def load(classifier: Classifier) -> engine.LoadedClassifier:
    return _load(classifier.pk, classifier.weights_sha256, device())


@cache
def _load(classifier_id: int, weights_sha256: str, device_name: str) -> engine.LoadedClassifier:
    """One model per classifier and process: workers load it once, not per task."""
    classifier = Classifier.objects.get(pk=classifier_id)
    try:
        loaded = engine.load_classifier(
            source=classifier.source,
            architecture=classifier.architecture,
            # The bundled weights are found through their package wherever the venv is;
            # the sha256 check below still pins them.
            weights_path=None if classifier.source == Classifier.Source.BUNDLED else classifier.weights_path,
            preprocessing=classifier.preprocessing,
            device=device_name,
        )
    except (engine.ClassifierLoadError, OSError) as error:
        raise PreparationError(f"cannot load classifier {classifier.name}: {error}") from error
    if loaded.weights_sha256 != weights_sha256:
        raise PreparationError(
            f"the weights of classifier {classifier.name} at {classifier.weights_path} have "
            f"sha256 {loaded.weights_sha256[:12]}…, not the recorded {weights_sha256[:12]}…"
        )
    return loaded
