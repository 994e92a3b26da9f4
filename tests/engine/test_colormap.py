"""The colour map's table without torch, and the gradient stops the participant page's
legend is drawn with: a browser's linear gradient through them is the table."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference.engine import render
from inference.engine.colormap import CIVIDIS, gradient_stops

ROOT = Path(__file__).resolve().parents[2]


def drawn(stops) -> np.ndarray:
    """The 256 colours a linear gradient through `stops` gives at each table position."""
    positions = [index for index, _ in stops]
    colours = np.array([[int(hex_[i : i + 2], 16) for i in (1, 3, 5)] for _, hex_ in stops], dtype=float)
    return np.stack([np.interp(np.arange(256), positions, colours[:, c]) for c in range(3)], axis=1)


def test_overlays_are_coloured_with_this_table():
    assert render.CIVIDIS is CIVIDIS


@pytest.mark.parametrize("tolerance", [0, 1, 3])
def test_a_gradient_through_the_stops_stays_within_the_tolerance_of_the_table(tolerance):
    stops = gradient_stops(tolerance)
    assert stops[0][0] == 0 and stops[-1][0] == 255
    assert [index for index, _ in stops] == sorted({index for index, _ in stops})
    for index, colour in stops:
        assert colour == "#" + bytes(CIVIDIS[index]).hex()
    assert np.abs(drawn(stops) - CIVIDIS.astype(float)).max() <= tolerance


def test_the_stops_are_far_fewer_than_the_table_at_one_level():
    assert len(gradient_stops(1)) < 32


def test_a_coarser_tolerance_needs_no_more_stops():
    assert len(gradient_stops(3)) <= len(gradient_stops(1)) <= len(gradient_stops(0)) <= 256


def test_a_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance"):
        gradient_stops(-1)


def test_the_table_loads_without_torch():
    # The web tier builds the legend from it, and the web tier never imports torch.
    probe = "import sys, inference.engine.colormap as c; c.gradient_stops(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
