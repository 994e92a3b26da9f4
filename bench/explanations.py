"""Each explanation method against its own pass-count bound, on the bundled model.

Question: how close does each saliency method come to the cost of the model
passes it cannot avoid? The bounds are measured in the same run, on the same
images already decoded and preprocessed, at the best batch size (searched
over the fwd+bwd pass; channels_last, frozen parameters):

- fwd: bare forward pass under inference mode;
- fwd+bwd: forward, then the gradient of the target logits to the input.

Each method's throughput in passes per second is divided by its bound
(goal >= 0.8): gradient 1 x (fwd+bwd) per image; Grad-CAM fwd + a partial
backward, bounded by fwd+bwd (so it may exceed 1); SmoothGrad-8 and IG-16
8 and 16 x (fwd+bwd); Occlusion one fwd per window (window 56, stride 28:
49 windows on 224 x 224). Method overheads (Captum's bookkeeping, the
occlusion's unoccluded pass, Grad-CAM's layer search, partial batches) all
count against the method.

All timed runs take turns within each round, so machine noise hits them
alike; the fastest of REPEATS rounds is kept. Images: the sample photos
(foolbox ImageNet and scikit-image), repeated as needed. The costly methods
run on an eighth of the images so that the benchmark takes about a minute on
2 idle CPU cores. Run: `python bench/explanations.py [--device cuda]` (no
Django). Prints absolute figures for context and ends with
`RESULT <name> <value> <unit>` lines.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from measure import fastest, forward, forward_backward

from inference.engine import load_bundled, load_rgb, stack_inputs
from inference.engine.saliency import (
    GradCamParams,
    GradientParams,
    IntegratedGradientsParams,
    MethodParams,
    OcclusionParams,
    SmoothGradParams,
    explain,
    predicted_classes,
)
from inference.samples import sample_files

REPEATS = 3
SEARCH_REPEATS = 2
BATCH_SIZES = {"cpu": (4, 8, 16), "cuda": (32, 64, 128)}
WINDOWS = 49  # (224 - 56) / 28 + 1 = 7 positions per side


def method_run(
    model: torch.nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    method: str,
    params: MethodParams,
    batch_size: int,
) -> Callable[[], None]:
    def run() -> None:
        explain(model, images, targets, method, params, seed=0, batch_size=batch_size)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    device = torch.device(parser.parse_args().device)
    batch_sizes = BATCH_SIZES["cuda" if device.type == "cuda" else "cpu"]
    image_count = max(batch_sizes)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")

    classifier = load_bundled(device)
    model = classifier.model
    photos = [load_rgb(path) for path, _, _ in sample_files()]
    cycled = list(itertools.islice(itertools.cycle(photos), image_count))
    images = stack_inputs(cycled, classifier.preprocessing).to(device)
    targets = predicted_classes(model, images).to(device)

    search = fastest(
        {str(size): forward_backward(model, images, targets, size) for size in batch_sizes},
        SEARCH_REPEATS,
        device,
    )
    for size, secs in search.items():
        print(f"fwd+bwd batch {size:>3}: {image_count / secs:7.1f} img/s")
    batch = int(min(search, key=search.__getitem__))

    # (params, images used, passes per image, bound): the costly methods use an eighth of the
    # images, still several full batches of passes.
    few = max(1, image_count // 8)
    methods = {
        "gradient": (GradientParams(), image_count, 1, "fwd+bwd"),
        "gradcam": (GradCamParams(), image_count, 1, "fwd+bwd"),
        "smoothgrad": (SmoothGradParams(nt_samples=8), few, 8, "fwd+bwd"),
        "integrated_gradients": (IntegratedGradientsParams(n_steps=16), few, 16, "fwd+bwd"),
        "occlusion": (OcclusionParams(window=56, stride=28), few, WINDOWS, "fwd"),
    }
    runs = {
        "fwd": forward(model, images, batch),
        "fwd+bwd": forward_backward(model, images, targets, batch),
    }
    for name, (params, count, _, _) in methods.items():
        runs[name] = method_run(model, images[:count], targets[:count], name, params, batch)
    secs = fastest(runs, REPEATS, device)

    bounds = {name: image_count / secs[name] for name in ("fwd", "fwd+bwd")}
    print(f"bound fwd,     batch {batch:>3}: {bounds['fwd']:8.1f} img/s")
    print(f"bound fwd+bwd, batch {batch:>3}: {bounds['fwd+bwd']:8.1f} img/s")
    ratios = {}
    for name, (_, count, passes, bound) in methods.items():
        rate = count / secs[name]
        ratios[name] = rate * passes / bounds[bound]
        print(
            f"{name:<21} {rate:8.2f} img/s = {rate * passes:8.1f} {bound} passes/s, "
            f"ratio to bound {ratios[name]:.2f} (goal >= 0.8)"
        )

    print(f"RESULT explanation_best_batch_size {batch} images")
    print(f"RESULT explanation_bound_fwd {bounds['fwd']:.1f} img/s")
    print(f"RESULT explanation_bound_fwd_bwd {bounds['fwd+bwd']:.1f} img/s")
    for name, (_, count, _, _) in methods.items():
        print(f"RESULT explanation_{name} {count / secs[name]:.2f} img/s")
    for name, ratio in ratios.items():
        print(f"RESULT explanation_{name}_over_bound {ratio:.3f} ratio")


if __name__ == "__main__":
    main()
