"""Every kind of preparation implements the declared handler interface
(inference.preparation.handler.Handler): the runner calls these three functions and no
other, so a handler that lacks one, or takes other arguments, is caught here rather than
mid-job on a worker."""

import inspect
import types

import pytest

from inference.models import PreparationJob
from inference.preparation.handler import HANDLERS, Handler, handler_for

METHODS = ("done_ids", "process", "finalize")


def parameters(function) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def test_every_kind_of_preparation_has_a_handler():
    assert set(HANDLERS) == set(PreparationJob.Kind.values)


@pytest.mark.parametrize("kind", sorted(HANDLERS))
def test_the_handler_implements_the_interface(kind):
    handler = handler_for(kind)
    assert isinstance(handler, Handler)
    for name in METHODS:
        assert parameters(getattr(handler, name)) == parameters(getattr(Handler, name)), (kind, name)


def test_the_check_notices_a_missing_step():
    incomplete = types.ModuleType("incomplete")
    incomplete.done_ids = lambda job, image_ids: set()
    incomplete.process = lambda job, loaded, images, batch_size: {}
    assert not isinstance(incomplete, Handler)
    incomplete.finalize = lambda job, loaded: None
    assert isinstance(incomplete, Handler)
