"""The interface every kind of preparation implements, and which module implements each.

A handler is a module of plain functions (the runner owns retries, errors per image,
progress and the end of a job; a handler only computes and stores):

- `done_ids(job, image_ids)`: the images whose output is already stored, so that a batch
  run twice skips them;
- `process(job, loaded, images, batch_size)`: compute and store the outputs of these
  images, running the model `batch_size` at a time; returns {image id: reason} for the
  images it could not do;
- `finalize(job, loaded)`: once, when the job's last batch is done, in the transaction
  that holds the job's row lock (work over the whole set: a shared rendering scale,
  prototypes per class); a no-op for kinds without such work.

tests/inference/test_preparation_handlers.py checks every module in HANDLERS against
`Handler`, names and signatures.
"""

import importlib
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from inference.models import Image, PreparationJob


@runtime_checkable
class Handler(Protocol):
    def done_ids(self, job: PreparationJob, image_ids: Iterable[int]) -> set[int]: ...

    def process(
        self, job: PreparationJob, loaded, images: list[Image], batch_size: int
    ) -> dict[int, str]: ...

    def finalize(self, job: PreparationJob, loaded) -> None: ...


HANDLERS = {
    PreparationJob.Kind.PREDICTIONS: "inference.preparation.handlers.predictions",
    PreparationJob.Kind.ADVERSARIAL: "inference.preparation.handlers.adversarial",
    PreparationJob.Kind.EXPLANATIONS: "inference.preparation.handlers.explanations",
    PreparationJob.Kind.FEATURES: "inference.preparation.handlers.features",
    PreparationJob.Kind.PROTOTYPES: "inference.preparation.handlers.prototypes",
    PreparationJob.Kind.BIAS: "inference.preparation.handlers.bias",
}


def handler_for(kind: str) -> Handler:
    return importlib.import_module(HANDLERS[kind])


def nothing_to_finalize(job: PreparationJob, loaded) -> None:
    """The finishing step of kinds whose every image's output is complete on its own."""
