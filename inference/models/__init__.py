"""Images, classifiers and what workers compute from them.

The web tier reads these rows; only workers (and the embedded in-process runner) write
what models compute, so nothing here imports torch.
"""

from .classifiers import Classifier
from .features import Embedding, PrototypeSet
from .images import Image, ImageSet, ImageTag
from .intake import ClassifierRegistration, ImageImport, ImportedFile
from .jobs import JobBatch, JobError, PreparationJob
from .plans import PlanStage, PreparationPlan
from .stimuli import AdversarialImage, Explanation, ModelInput, Prediction

__all__ = [
    "AdversarialImage",
    "Classifier",
    "ClassifierRegistration",
    "Embedding",
    "Explanation",
    "Image",
    "ImageImport",
    "ImageSet",
    "ImageTag",
    "ImportedFile",
    "JobBatch",
    "JobError",
    "ModelInput",
    "PlanStage",
    "Prediction",
    "PreparationJob",
    "PreparationPlan",
    "PrototypeSet",
]
