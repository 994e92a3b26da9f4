"""Locations of the real photos that ship inside installed packages.

The packages are found without importing them: only their data files are
needed, and importing foolbox pulls in its dependencies.
"""

from pathlib import Path

import pytest

from inference.samples import package_dir


@pytest.fixture(scope="session")
def skimage_data() -> Path:
    return package_dir("skimage") / "data"


@pytest.fixture(scope="session")
def foolbox_images() -> list[tuple[Path, int]]:
    """The 20 labelled ImageNet images as (path, class index), sorted by name."""
    paths = sorted((package_dir("foolbox") / "data").glob("imagenet_*.jpg"))
    return [(path, int(path.stem.split("_")[2])) for path in paths]
