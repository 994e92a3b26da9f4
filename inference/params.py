"""Canonical, validated parameters of each kind of preparation job.

The web tier validates a request before anything is queued, so that a bad budget or a
class that does not exist is an error for the researcher, not a failed job later. The
attack and explanation parameters are the engine's own dataclasses (plain Python, no
torch: importing them does not load a model library)."""

from inference.models import PreparationJob

Kind = PreparationJob.Kind


def _int(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _choice(params: dict, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, default)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _class(params: dict, name: str, num_classes: int) -> int:
    if name not in params:
        raise ValueError(f"{name} is required")
    return _int(params, name, 0, 0, num_classes - 1)


def _predictions(params: dict, num_classes: int) -> dict:
    return {"k": _int(params, "k", 5, 1, min(10, num_classes))}


def _attack(params: dict, num_classes: int) -> dict:
    from inference.engine.attacks.params import AttackParams

    fields = {key: value for key, value in params.items() if key != "label"}
    if "attack" not in fields:
        raise ValueError("attack is required (fgsm, bim, pgd, deepfool or cw)")
    try:
        attack = AttackParams.from_dict(fields)
    except TypeError as error:
        raise ValueError(str(error)) from None
    attack.check_classes(num_classes)
    return {**attack.to_dict(), "label": _choice(params, "label", "predicted", ("predicted", "true"))}


def _explanations(params: dict, num_classes: int) -> dict:
    from inference.engine.saliency.params import params_from_dict

    method = params.get("method", "gradcam")
    method_params = params_from_dict(method, params.get("method_params", {})).to_dict()
    target = params.get("target", "predicted")
    if target != "predicted":
        target = _class(params, "target", num_classes)
    on = _choice(params, "on", "clean", ("clean", "clean_and_adversarial"))
    attack = _attack(params.get("attack") or {}, num_classes) if on == "clean_and_adversarial" else None
    return {
        "method": method,
        "method_params": method_params,
        "target": target,
        "seed": _int(params, "seed", 0, 0, 2**31 - 1),
        "on": on,
        "attack": attack,
    }


def _features(params: dict, num_classes: int) -> dict:
    return {}


def _prototypes(params: dict, num_classes: int) -> dict:
    gamma = params.get("gamma")
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, int | float) or gamma <= 0):
        raise ValueError(f"gamma must be a positive number or null (median heuristic), got {gamma!r}")
    regularizer = params.get("regularizer", "logdet")
    if regularizer not in ("logdet", None):
        raise ValueError(f"regularizer must be 'logdet' or null, got {regularizer!r}")
    return {
        "m": _int(params, "m", 10, 1, 1000),
        "c": _int(params, "c", 5, 0, 1000),
        "gamma": gamma,
        "regularizer": regularizer,
        "group_by": _choice(params, "group_by", "true_class", ("true_class", "predicted")),
    }


def _bias(params: dict, num_classes: int) -> dict:
    return {
        "target_class": _class(params, "target_class", num_classes),
        "max_eps": _int(params, "max_eps", 32, 1, 255),
        "steps": _int(params, "steps", 10, 1, 1000),
    }


CANONICALISERS = {
    Kind.PREDICTIONS: _predictions,
    Kind.ADVERSARIAL: _attack,
    Kind.EXPLANATIONS: _explanations,
    Kind.FEATURES: _features,
    Kind.PROTOTYPES: _prototypes,
    Kind.BIAS: _bias,
}


def canonical_params(kind: str, params: dict, num_classes: int) -> dict:
    """params with defaults filled in, or ValueError naming the bad one."""
    if kind not in CANONICALISERS:
        raise ValueError(f"unknown kind of preparation {kind!r}")
    if not isinstance(params, dict):
        raise ValueError("parameters must be a JSON object")
    known = CANONICALISERS[kind](params, num_classes)
    allowed = set(known) | ({"method_params"} if kind == Kind.EXPLANATIONS else set())
    if kind == Kind.ADVERSARIAL:
        allowed |= set(params)  # AttackParams already refused unknown fields
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"unknown parameters for {kind}: {', '.join(sorted(unknown))}")
    return known
