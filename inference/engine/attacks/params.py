"""The parameters of one adversarial attack, as stored with every adversarial image.

Budgets and step sizes are in 1/255 pixel units for both norms, so that a
researcher reads them the way the 8-bit images are stored: L-inf eps = 4 means
no pixel channel moves by more than 4 grey levels (4/255 in [0, 1] pixel
space); L2 eps = 255 means an L2 norm of 1.0 over the whole [0, 1] image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

ATTACKS = ("fgsm", "bim", "pgd", "deepfool", "cw")
NORMS = ("linf", "l2")
TARGETINGS = ("none", "given", "least_likely")

# A pixel channel cannot move by more than its whole range.
MAX_LINF_EPS = 255.0
# An L2 norm of 100 in [0, 1] units moves every channel of a 224 x 224 image
# by about a quarter of its range: far beyond any imperceptible budget.
MAX_L2_EPS = 100.0 * 255.0
MAX_STEPS = 10_000
MAX_SEED = 2**63 - 1  # fits a signed 64-bit database column

# Attacks with a budget (eps) and the fields that only apply to some attacks.
_BUDGETED = ("fgsm", "bim", "pgd")
_APPLIES = {
    "step": ("bim", "pgd"),
    "steps": ("bim", "pgd", "deepfool", "cw"),
    "overshoot": ("deepfool",),
    "candidates": ("deepfool",),
    "confidence": ("cw",),
    "binary_search_steps": ("cw",),
    "initial_const": ("cw",),
}
_DEFAULT_STEPS = {"bim": 10, "pgd": 10, "deepfool": 50, "cw": 100}
_DEFAULTS: dict[str, float | int] = {
    "overshoot": 0.02,  # Moosavi-Dezfooli et al. 2016
    "candidates": 10,
    "confidence": 0.0,
    "binary_search_steps": 9,  # Carlini & Wagner's reference values
    "initial_const": 1e-3,
}


@dataclass(frozen=True)
class AttackParams:
    """What to run: the attack, its budget and settings, its targeting and its seed.

    - `attack`: "fgsm" (Goodfellow et al. 2015; with norm "l2" the fast
      gradient method), "bim" (I-FGSM, Kurakin et al. 2017: PGD without
      random start), "pgd" (Madry et al. 2018), "deepfool" (Moosavi-Dezfooli
      et al. 2016) or "cw" (Carlini & Wagner 2017, L2).
    - `norm`: "linf" or "l2"; default "linf" for fgsm / bim / pgd, "l2" for
      deepfool and cw (which is L2 only).
    - `eps`: budget in 1/255 units, required for fgsm / bim / pgd:
      0 < eps <= 255 (L-inf) or <= 25500 (L2). DeepFool and C&W look for the
      smallest perturbation and take none.
    - `step`: bim / pgd step size in 1/255 units; default 2.5 * eps / steps
      (Madry et al.).
    - `steps`: iterations, 1..10000 (default 10 for bim / pgd, 50 for
      deepfool, 100 Adam steps per binary-search step for cw); not used by fgsm.
    - `targeting`: "none" (away from the label the caller passes), "given"
      (towards `target_class`) or "least_likely" (towards the argmin of the
      clean logits). DeepFool is untargeted only.
    - `random_start` (pgd only), `seed`: the random start is drawn from `seed`
      alone, so the same seed gives the same image.
    - DeepFool: `overshoot` (default 0.02) and `candidates` (how many of the
      most likely classes are considered, default 10).
    - C&W: `confidence` (kappa, logit margin, default 0),
      `binary_search_steps` (default 9) and `initial_const` (default 1e-3),
      the reference implementation's values (its 10,000 steps are too slow here).

    Fields that do not apply to the attack must be left as None; applicable
    ones left as None get their documented default. Invalid values raise
    ValueError naming the field. Whether `target_class` exists depends on the
    model: see `check_classes`.
    """

    attack: str
    norm: str | None = None
    eps: float | None = None
    step: float | None = None
    steps: int | None = None
    targeting: str = "none"
    target_class: int | None = None
    random_start: bool = False
    seed: int = 0
    overshoot: float | None = None
    candidates: int | None = None
    confidence: float | None = None
    binary_search_steps: int | None = None
    initial_const: float | None = None

    def __post_init__(self) -> None:
        _check_choice("attack", self.attack, ATTACKS)
        if self.norm is None:
            self._set("norm", "linf" if self.attack in _BUDGETED else "l2")
        _check_choice("norm", self.norm, NORMS)
        _check_choice("targeting", self.targeting, TARGETINGS)
        if self.attack == "cw" and self.norm != "l2":
            raise ValueError(f"norm must be 'l2' for attack 'cw', got {self.norm!r}")
        if self.attack == "deepfool" and self.targeting != "none":
            raise ValueError(f"targeting must be 'none' for attack 'deepfool', got {self.targeting!r}")
        for name, attacks in _APPLIES.items():
            if self.attack not in attacks and getattr(self, name) is not None:
                raise ValueError(f"{name} does not apply to attack {self.attack!r}; leave it unset")
        self._check_budget()
        self._check_settings()
        self._check_target()

    def _check_budget(self) -> None:
        if self.attack not in _BUDGETED:
            if self.eps is not None:
                raise ValueError(
                    f"eps does not apply to attack {self.attack!r}: it finds the smallest perturbation"
                )
            return
        if self.eps is None:
            raise ValueError(f"eps is required for attack {self.attack!r}")
        upper = MAX_LINF_EPS if self.norm == "linf" else MAX_L2_EPS
        self._set("eps", _number("eps", self.eps, 0.0, upper, unit=" (1/255 units)"))
        if self.attack != "fgsm":
            self._set("steps", checked_integer("steps", self._default("steps"), 1, MAX_STEPS))
            step = 2.5 * self.eps / self.steps if self.step is None else self.step
            self._set("step", _number("step", step, 0.0, upper, unit=" (1/255 units)"))

    def _check_settings(self) -> None:
        if not isinstance(self.random_start, bool):
            raise ValueError(f"random_start must be true or false, got {self.random_start!r}")
        if self.random_start and self.attack != "pgd":
            raise ValueError(f"random_start applies to attack 'pgd' only, not {self.attack!r}")
        if self.attack == "deepfool":
            self._set("steps", checked_integer("steps", self._default("steps"), 1, MAX_STEPS))
            self._set(
                "overshoot", _number("overshoot", self._default("overshoot"), 0.0, 1.0, low_inclusive=True)
            )
            self._set("candidates", checked_integer("candidates", self._default("candidates"), 2, None))
        elif self.attack == "cw":
            self._set("steps", checked_integer("steps", self._default("steps"), 1, MAX_STEPS))
            self._set(
                "confidence", _number("confidence", self._default("confidence"), 0.0, 1e4, low_inclusive=True)
            )
            searches = self._default("binary_search_steps")
            self._set("binary_search_steps", checked_integer("binary_search_steps", searches, 1, 100))
            self._set("initial_const", _number("initial_const", self._default("initial_const"), 0.0, 1e10))

    def _check_target(self) -> None:
        if self.targeting == "given":
            self._set("target_class", checked_integer("target_class", self.target_class, 0, None))
        elif self.target_class is not None:
            raise ValueError(f"target_class applies to targeting 'given' only, got {self.target_class!r}")
        self._set("seed", checked_integer("seed", self.seed, 0, MAX_SEED))

    def _default(self, name: str) -> Any:
        value = getattr(self, name)
        if value is not None:
            return value
        return _DEFAULT_STEPS[self.attack] if name == "steps" else _DEFAULTS[name]

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def targeted(self) -> bool:
        """Whether the attack aims at a class rather than away from the label."""
        return self.targeting != "none"

    def check_classes(self, num_classes: int) -> None:
        """Raise ValueError unless `target_class` (when given) is one of the model's `num_classes`."""
        if self.target_class is not None and self.target_class >= num_classes:
            raise ValueError(
                f"target_class must be a class of the model (0..{num_classes - 1}), got {self.target_class}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields that are set (None fields are left out)."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttackParams:
        """Build from a dict such as `to_dict()` returns; `from_dict(p.to_dict()) == p`.

        Raises ValueError naming a missing, unknown or invalid field.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"attack parameters must be a mapping, got {type(data).__name__}")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"attack parameters have unknown field(s): {', '.join(unknown)}")
        if "attack" not in data:
            raise ValueError("attack parameters are missing field: attack")
        return cls(**data)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _number(
    name: str, value: Any, low: float, high: float, *, low_inclusive: bool = False, unit: str = ""
) -> float:
    """`value` as a float in (low, high] (or [low, high]); bools and non-finite numbers are refused."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not (numeric and (value >= low if low_inclusive else value > low) and value <= high):
        relation = "<=" if low_inclusive else "<"
        raise ValueError(
            f"{name} must be a number with {low:g} {relation} {name} <= {high:g}{unit}, got {value!r}"
        )
    return float(value)


def checked_integer(name: str, value: Any, low: int, high: int | None) -> int:
    """`value` as an int in [low, high] (no upper bound when `high` is None); bools are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return value
