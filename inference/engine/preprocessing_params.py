"""How a classifier expects its images, as stored with its record: plain Python, no torch.

The admin validates a classifier registration's preprocessing in the web process, which
never imports torch; the engine's image code (preprocessing.py) applies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

INTERPOLATION_NAMES = ("bicubic", "bilinear")

_FIELDS = ("resize", "crop", "interpolation", "mean", "std")


@dataclass(frozen=True)
class Preprocessing:
    """How a classifier expects its images: resize short side, centre crop, normalise.

    `resize` and `crop` are pixel sizes (crop <= resize); `interpolation` is
    "bicubic" or "bilinear"; `mean` and `std` are per RGB channel in [0, 1]
    units. Invalid values raise ValueError naming the field.
    """

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        for name in ("resize", "crop"):
            value = getattr(self, name)
            # bool is an int subclass; `True` as a size is always a mistake.
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.crop > self.resize:
            raise ValueError(f"crop must not exceed resize, got crop={self.crop} resize={self.resize}")
        if self.interpolation not in INTERPOLATION_NAMES:
            raise ValueError(
                f"interpolation must be one of {sorted(INTERPOLATION_NAMES)}, got {self.interpolation!r}"
            )
        object.__setattr__(self, "mean", _channel_triple("mean", self.mean, positive=False))
        object.__setattr__(self, "std", _channel_triple("std", self.std, positive=True))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (tuples become lists)."""
        data = asdict(self)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """Build from a dict such as `to_dict()` returns.

        Raises ValueError naming the missing, unknown or invalid field.
        """
        if not isinstance(data, Mapping):
            # ValueError, not TypeError: this is bad record data like any
            # other field, and callers (the registry) catch ValueError.
            raise ValueError(f"preprocessing must be a mapping, got {type(data).__name__}")
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise ValueError(f"preprocessing is missing field(s): {', '.join(missing)}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValueError(f"preprocessing has unknown field(s): {', '.join(unknown)}")
        return cls(**{name: data[name] for name in _FIELDS})


def _channel_triple(name: str, value: Any, *, positive: bool) -> tuple[float, float, float]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"{name} must be a sequence of 3 numbers, got {value!r}")
    bound = "(0, 1]" if positive else "[0, 1]"
    for item in value:
        numeric = isinstance(item, int | float) and not isinstance(item, bool)
        if not (numeric and (item > 0 if positive else item >= 0) and item <= 1):
            raise ValueError(f"{name} must hold 3 numbers in {bound}, got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))
