"""The parameters of each explanation method: what determines a map, and nothing else.

Each method has a frozen dataclass whose `to_dict()` is what gets stored with
an explanation (and keys its uniqueness and its normalisation scale).
Execution details that do not change the map, such as how many images go
through the model at once, are arguments of `explain`, not parameters, so
that changing them never makes two identical maps look different.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, TypeAlias


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    # bool is an int subclass; `True` as a count is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_float(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    above = numeric and (value > low if open_low else value >= low)
    if not (above and value <= high):
        interval = f"{'(' if open_low else '['}{low}, {high}]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


class _Params:
    """to_dict / from_dict shared by the parameter classes (all fields are JSON scalars)."""

    method: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of the fields."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Build from a dict such as `to_dict()` returns; absent fields take their defaults.

        Raises ValueError naming unknown or invalid fields.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.method} parameters must be a mapping, got {type(data).__name__}")
        known = {field.name for field in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.method} parameters have unknown field(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class GradCamParams(_Params):
    """Grad-CAM: `layer` is the qualified module name (e.g. "net.bn2") or None for
    the default that `gradcam_layer` picks. Storing the resolved name keeps the
    record reproducible if the default rule ever changes."""

    method: ClassVar[str] = "gradcam"
    layer: str | None = None

    def __post_init__(self) -> None:
        if self.layer is not None and (not isinstance(self.layer, str) or not self.layer):
            raise ValueError(f"layer must be a non-empty module name or None, got {self.layer!r}")


@dataclass(frozen=True)
class GradientParams(_Params):
    """Vanilla gradient (Simonyan et al. 2014): no parameters."""

    method: ClassVar[str] = "gradient"


@dataclass(frozen=True)
class SmoothGradParams(_Params):
    """SmoothGrad (Smilkov et al. 2017): `nt_samples` noisy copies, Gaussian noise of
    standard deviation `stdevs` in [0, 1] pixel units (0.1-0.2 is the usual range)."""

    method: ClassVar[str] = "smoothgrad"
    nt_samples: int = 16
    stdevs: float = 0.15

    def __post_init__(self) -> None:
        _check_int("nt_samples", self.nt_samples, 1, 10_000)
        object.__setattr__(self, "stdevs", _check_float("stdevs", self.stdevs, 0.0, 1.0, open_low=True))


@dataclass(frozen=True)
class IntegratedGradientsParams(_Params):
    """Integrated Gradients (Sundararajan et al. 2017): `n_steps` Gauss-Legendre points
    on the path from a uniform grey `baseline` (0 = black, 1 = white) to the image."""

    method: ClassVar[str] = "integrated_gradients"
    n_steps: int = 32
    baseline: float = 0.0

    def __post_init__(self) -> None:
        _check_int("n_steps", self.n_steps, 1, 10_000)
        object.__setattr__(self, "baseline", _check_float("baseline", self.baseline, 0.0, 1.0))


@dataclass(frozen=True)
class OcclusionParams(_Params):
    """Occlusion (Zeiler & Fergus 2014): a `window` x `window` pixel square filled with
    the grey level `baseline` (0 = black) slides by `stride` pixels."""

    method: ClassVar[str] = "occlusion"
    window: int = 56
    stride: int = 28
    baseline: float = 0.0

    def __post_init__(self) -> None:
        _check_int("window", self.window, 1, 100_000)
        _check_int("stride", self.stride, 1, 100_000)
        object.__setattr__(self, "baseline", _check_float("baseline", self.baseline, 0.0, 1.0))


MethodParams: TypeAlias = (
    GradCamParams | GradientParams | SmoothGradParams | IntegratedGradientsParams | OcclusionParams
)

PARAMS_BY_METHOD: dict[str, type[MethodParams]] = {
    cls.method: cls
    for cls in (GradCamParams, GradientParams, SmoothGradParams, IntegratedGradientsParams, OcclusionParams)
}
METHODS: tuple[str, ...] = tuple(PARAMS_BY_METHOD)


def check_method(method: Any) -> str:
    """Return `method` if it names an explanation method, else raise ValueError listing them."""
    if method not in PARAMS_BY_METHOD:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def default_params(method: str) -> MethodParams:
    """The default parameters of `method` (ValueError for an unknown method)."""
    return PARAMS_BY_METHOD[check_method(method)]()


def params_from_dict(method: str, data: Mapping[str, Any]) -> MethodParams:
    """Parameters of `method` from a stored dict (ValueError naming the bad field)."""
    return PARAMS_BY_METHOD[check_method(method)].from_dict(data)
