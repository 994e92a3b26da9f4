"""SecondLook's inference engine: plain torch, no Django, no settings.

Images are `[N, 3, H, W]` float tensors in [0, 1]; models take them as they are and
normalise inside (`Normalized`). Subpackages: `attacks`, `saliency`, `prototypes`,
`sources`; modules `features`, `render`.

Names are imported on first use (PEP 562): importing a torch-free submodule such as
`inference.engine.attacks.params` — the web tier validates job parameters with it —
does not import torch.
"""

from .lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BUNDLED_PREPROCESSING": ".bundled",
        "bundled_weights_path": ".bundled",
        "load_bundled": ".bundled",
        "ClassifierLoadError": ".classifier",
        "LoadedClassifier": ".classifier",
        "Normalized": ".classifier",
        "eval_mode": ".classifier",
        "sha256_file": ".hashing",
        "topk": ".predict",
        "Preprocessing": ".preprocessing",
        "load_model_inputs": ".preprocessing",
        "load_rgb": ".preprocessing",
        "resize_and_crop": ".preprocessing",
        "stack_inputs": ".preprocessing",
        "to_model_input": ".preprocessing",
        "describe": ".registry",
        "final_linear": ".features",
        "nearest": ".features",
        "penultimate_features": ".features",
        "MMDCritic": ".prototypes",
        "mmd_critic": ".prototypes",
        "mmd_critic_per_class": ".prototypes",
        "explain": ".saliency",
        "reference_scale": ".saliency",
        "to_intensity": ".saliency",
        "overlay": ".render",
        "describe_bundled": ".registry",
        "load_classifier": ".registry",
    },
)
