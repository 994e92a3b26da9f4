"""Top-k from image files against the bare forward pass of the bundled model.

Question: how close does top-k preparation (decode + resize/crop + top-k)
come to the model's own speed? The bound is measured in the same run: the
bare forward pass of the same model on the same images, already decoded and
preprocessed, at the best batch size (searched over 1-16, channels_last;
on 2 CPU cores the best is small). Goal on CPU: ratio >= 0.7.

Top-k from files decodes with `load_model_inputs` (threads, as the engine
does); decoding one image at a time is printed too, for comparison. All
timed runs take turns within each round so that machine noise hits them
alike. Images: the 20 labelled foolbox ImageNet images and a few
scikit-image photos, repeated to 64. Run: `python bench/prepare_topk.py` (no Django).
Threads are left at torch's default. Prints absolute img/s for context and
ends with `RESULT <name> <value> <unit>` lines.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from measure import fastest, forward

from inference.engine import load_bundled, load_model_inputs, load_rgb, stack_inputs, topk
from inference.samples import sample_files

IMAGE_COUNT = 64
BATCH_SIZES = (1, 2, 4, 8, 16)
SEARCH_REPEATS = 2
REPEATS = 5
K = 5


def image_paths() -> list[Path]:
    photos = [path for path, _, _ in sample_files()]
    return list(itertools.islice(itertools.cycle(photos), IMAGE_COUNT))


def main() -> None:
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{IMAGE_COUNT} images, fastest of {REPEATS} interleaved runs"
    )
    classifier = load_bundled()
    model, preprocessing = classifier.model, classifier.preprocessing
    paths = image_paths()
    images = stack_inputs([load_rgb(path) for path in paths], preprocessing)

    search = fastest(
        {str(size): forward(model, images, size) for size in BATCH_SIZES},
        SEARCH_REPEATS,
    )
    for size, secs in search.items():
        print(f"forward batch {size:>2}: {IMAGE_COUNT / secs:7.1f} img/s")
    best_batch = int(min(search, key=search.__getitem__))

    def decode_one_by_one() -> torch.Tensor:
        return stack_inputs([load_rgb(path) for path in paths], preprocessing)

    def decode() -> torch.Tensor:
        return load_model_inputs(paths, preprocessing)

    def from_files() -> None:
        topk(model, decode(), k=K, batch_size=best_batch)

    def from_files_one_by_one() -> None:
        topk(model, decode_one_by_one(), k=K, batch_size=best_batch)

    runs = {
        "bound": forward(model, images, best_batch),
        "decode": decode,
        "decode_one_by_one": decode_one_by_one,
        "topk": from_files,
        "topk_one_by_one": from_files_one_by_one,
    }
    rates = {name: IMAGE_COUNT / secs for name, secs in fastest(runs, REPEATS).items()}
    ratio = rates["topk"] / rates["bound"]
    print(f"forward bound, batch {best_batch:>2}:            {rates['bound']:7.1f} img/s")
    print(f"decode + preprocess, parallel:      {rates['decode']:7.1f} img/s")
    print(f"decode + preprocess, one by one:    {rates['decode_one_by_one']:7.1f} img/s")
    print(f"top-{K} from files, batch {best_batch:>2}:         {rates['topk']:7.1f} img/s")
    print(f"top-{K} from files, one-by-one decode: {rates['topk_one_by_one']:7.1f} img/s")
    print(f"top-k from files / forward bound: {ratio:.2f} (goal >= 0.7)")

    print(f"RESULT forward_bound {rates['bound']:.1f} img/s")
    print(f"RESULT forward_best_batch_size {best_batch} images")
    print(f"RESULT decode_preprocess {rates['decode']:.1f} img/s")
    print(f"RESULT topk_from_files {rates['topk']:.1f} img/s")
    print(f"RESULT topk_from_files_one_by_one_decode {rates['topk_one_by_one']:.1f} img/s")
    print(f"RESULT topk_from_files_over_forward_bound {ratio:.3f} ratio")


if __name__ == "__main__":
    main()
