"""PGD-10 and FGSM against the passes they cannot avoid, on the bundled model.

Question: how close do the attacks, as the preparation jobs run them
(`run_attack`: attack, 8-bit quantisation, re-classification, distances),
come to the model's own cost? The bound is measured in the same run, on the
same images at the same batch size: a forward pass (inference mode) and a
forward + backward pass to the input (cross-entropy, frozen parameters).
PGD-10 cannot cost less than 10 x (forward + backward) + 1 forward (the
re-classification of the 8-bit image); FGSM not less than 1 x (forward +
backward) + 1 forward. Goal: PGD-10 / bound >= 0.85.

The batch size is searched on forward + backward, the pass PGD repeats
(channels_last; on 2 CPU cores the best is small). All timed runs take
turns within each round so that machine noise hits them alike; the fastest
round counts. Images: the sample photos (foolbox ImageNet images and
scikit-image photos), repeated to --images. Run:
`python bench/attacks.py [--device cuda]` (no Django). Ends with
`RESULT <name> <value> <unit>` lines.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from measure import fastest, forward, forward_backward

from inference.engine import load_bundled, load_rgb, stack_inputs
from inference.engine.attacks import AttackParams, run_attack
from inference.samples import sample_files

PGD10 = AttackParams("pgd", eps=4, steps=10)
FGSM = AttackParams("fgsm", eps=4)
SEARCH_REPEATS = 1


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--images", type=int, help="images per timed run (default: 16 on CPU, 512 on GPU)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="batch sizes to search")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of timed runs")
    return parser.parse_args()


def main() -> None:
    started = time.perf_counter()
    args = arguments()
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    count = args.images or (512 if on_gpu else 16)
    sizes = args.batch_sizes or ((32, 64, 128, 256) if on_gpu else (1, 2, 4, 8))
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads, "
        f"{count} images, fastest of {args.repeats} interleaved runs"
    )

    classifier = load_bundled(device)
    model = classifier.model
    photos = [path for path, _, _ in sample_files()]
    paths = list(itertools.islice(itertools.cycle(photos), count))
    images = stack_inputs([load_rgb(path) for path in paths], classifier.preprocessing).to(device)
    with torch.no_grad():
        labels = torch.cat([model(batch).argmax(dim=1) for batch in images.split(32)])

    search = fastest(
        {str(size): forward_backward(model, images, labels, size) for size in sizes}, SEARCH_REPEATS, device
    )
    for size, secs in search.items():
        print(f"forward+backward batch {size:>3}: {count / secs:8.1f} img/s")
    batch = int(min(search, key=search.__getitem__))

    runs = {
        "forward": forward(model, images, batch),
        "forward_backward": forward_backward(model, images, labels, batch),
        "pgd10": lambda: run_attack(model, images, labels, PGD10, classifier.num_classes, batch_size=batch),
        "fgsm": lambda: run_attack(model, images, labels, FGSM, classifier.num_classes, batch_size=batch),
    }
    secs = fastest(runs, args.repeats, device)
    pgd_bound = 10 * secs["forward_backward"] + secs["forward"]
    fgsm_bound = secs["forward_backward"] + secs["forward"]
    pgd_ratio = pgd_bound / secs["pgd10"]
    fgsm_ratio = fgsm_bound / secs["fgsm"]

    print(f"batch size {batch}")
    print(f"forward:                      {count / secs['forward']:8.1f} img/s")
    print(f"forward + backward (input):   {count / secs['forward_backward']:8.1f} img/s")
    print(f"PGD-10 bound, 10 fb + 1 f:    {count / pgd_bound:8.1f} img/s")
    print(f"PGD-10 via run_attack:        {count / secs['pgd10']:8.1f} img/s")
    print(f"FGSM bound, 1 fb + 1 f:       {count / fgsm_bound:8.1f} img/s")
    print(f"FGSM via run_attack:          {count / secs['fgsm']:8.1f} img/s")
    print(f"PGD-10 / bound: {pgd_ratio:.3f} (goal >= 0.85)")
    print(f"FGSM / bound:   {fgsm_ratio:.3f}")
    print(f"benchmark wall time {time.perf_counter() - started:.0f} s")

    suffix = "_gpu" if on_gpu else ""
    print(f"RESULT attack_batch_size{suffix} {batch} images")
    print(f"RESULT forward{suffix} {count / secs['forward']:.1f} img/s")
    print(f"RESULT forward_backward{suffix} {count / secs['forward_backward']:.1f} img/s")
    print(f"RESULT pgd10{suffix} {count / secs['pgd10']:.2f} img/s")
    print(f"RESULT fgsm{suffix} {count / secs['fgsm']:.1f} img/s")
    print(f"RESULT pgd10_over_bound{suffix} {pgd_ratio:.3f} ratio")
    print(f"RESULT fgsm_over_bound{suffix} {fgsm_ratio:.3f} ratio")


if __name__ == "__main__":
    main()
