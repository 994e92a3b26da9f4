"""The sample photos SecondLook can import without any download.

They ship inside installed packages: foolbox has 20 labelled ImageNet validation-style
images (`imagenet_{NN}_{class index}.jpg`), scikit-image has photos such as coffee and
chelsea. The packages are located without importing them (importing foolbox pulls in
its dependencies; only the files are needed). No Django here: the engine's tests and the
benchmarks use the same photos.
"""

import importlib.util
import re
from pathlib import Path

# scikit-image photos with the label a researcher would give them; chelsea (a tabby cat,
# which ImageNet splits into tabby / tiger cat / Egyptian cat) and the astronaut (several
# objects) are left unlabelled on purpose: they are the ambiguous cases the paper studies.
_SKIMAGE_PHOTOS = {"coffee.png": "espresso", "chelsea.png": "", "astronaut.png": "", "rocket.jpg": ""}
_FOOLBOX_NAME = re.compile(r"imagenet_(\d+)_(\d+)\.jpg")


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {package!r} that ships sample images is not installed")
    return Path(spec.submodule_search_locations[0])


def sample_files() -> list[tuple[Path, str, str]]:
    """(path, label, name) of every sample photo; label is "" where none is given."""
    sources = []
    for path in sorted((package_dir("foolbox") / "data").glob("imagenet_*.jpg")):
        match = _FOOLBOX_NAME.fullmatch(path.name)
        if match:
            sources.append((path, match.group(2), f"foolbox/{path.name}"))
    skimage_data = package_dir("skimage") / "data"
    for name, label in _SKIMAGE_PHOTOS.items():
        sources.append((skimage_data / name, label, f"skimage/{name}"))
    return sources
