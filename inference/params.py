"""Canonical, validated parameters of each kind of preparation job. No torch: the web
tier validates a request before anything is queued, so a bad budget or an unknown class
is an error for the researcher, not a failed job later."""

from inference.models import PreparationJob

Kind = PreparationJob.Kind


def _int(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _predictions(params: dict, num_classes: int) -> dict:
    return {"k": _int(params, "k", 5, 1, min(10, num_classes))}


CANONICALISERS = {Kind.PREDICTIONS: _predictions}


def canonical_params(kind: str, params: dict, num_classes: int) -> dict:
    """params with defaults filled in, or ValueError naming the bad one."""
    if kind not in CANONICALISERS:
        raise ValueError(f"unknown kind of preparation {kind!r}")
    known = CANONICALISERS[kind](params, num_classes)
    unknown = set(params) - set(known)
    if unknown:
        raise ValueError(f"unknown parameters for {kind}: {', '.join(sorted(unknown))}")
    return known
