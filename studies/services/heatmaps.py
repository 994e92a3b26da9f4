"""How a study's heatmaps are shown: which of an explanation's two overlays its
normalisation picks, and the colour legend that goes with them.

Invariants:
- Every explanation map has two rendered overlays (inference.preparation.handlers.
  explanations): one scaled by the image set's 99th percentile of relevance, one by the
  map's own. A study shows the one its frozen version names; versions frozen before the
  choice existed showed the image set's.
- The legend's colours are the render's colour map (inference.engine.colormap), never a
  copy of it.
"""

from dataclasses import dataclass

from inference.engine.colormap import gradient_stops
from inference.models import Explanation
from studies.models import Study

Normalisation = Study.HeatmapNormalisation


@dataclass(frozen=True)
class Overlay:
    """One rendered overlay of an explanation: where it is served, its hash, and the
    relevance shown at full colour."""

    url: str
    sha256: str
    scale: float | None


def normalisation_of(config: dict) -> str:
    """The heatmap normalisation a frozen version shows."""
    return config.get("heatmap_normalisation", Normalisation.IMAGE_SET.value)


def overlay(explanation: Explanation, normalisation: str) -> Overlay:
    """The overlay of `explanation` that `normalisation` shows (its fields are empty when
    that overlay was never rendered: see is_rendered)."""
    if normalisation == Normalisation.IMAGE:
        return Overlay(
            explanation.image_stimulus_path, explanation.image_overlay_sha256, explanation.image_scale
        )
    return Overlay(explanation.stimulus_path, explanation.overlay_sha256, explanation.scale)


def is_rendered(explanation: Explanation, normalisation: str) -> bool:
    return bool(overlay(explanation, normalisation).sha256)


def legend() -> dict:
    """The legend of the participant page: CSS colour stops ("#rrggbb 12.5%") from low to
    high relevance, which a linear gradient through reproduces the colour map within one
    level (see gradient_stops)."""
    return {"stops": [f"{colour} {index / 255 * 100:.4g}%" for index, colour in gradient_stops()]}
