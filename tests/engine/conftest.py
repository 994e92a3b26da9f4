"""Locations of the real photos that ship inside installed packages.

The packages are found without importing them: only their data files are
needed, and importing foolbox pulls in its dependencies.
"""

import importlib.util
from pathlib import Path

import pytest


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(spec.submodule_search_locations[0])


@pytest.fixture(scope="session")
def skimage_data() -> Path:
    return _package_dir("skimage") / "data"


@pytest.fixture(scope="session")
def foolbox_images() -> list[tuple[Path, int]]:
    """The 20 labelled ImageNet images as (path, class index), sorted by name."""
    paths = sorted((_package_dir("foolbox") / "data").glob("imagenet_*.jpg"))
    return [(path, int(path.stem.split("_")[2])) for path in paths]
