"""Adversarial attacks on [0, 1] pixel images, judged after 8-bit quantisation.

`run_attack` is the entry point: `AttackParams` in (budgets in 1/255 units),
`AttackResult` out (8-bit images, predictions, success, distances). The
bias-finding mode is `minimal_targeted_linf`. `to_uint8` / `from_uint8`
round-trip exactly, so an image reloaded from its PNG classifies the same.

Names are imported on first use (see inference.engine.lazy): `params` is torch-free.
"""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "fgsm": ".gradient",
        "pgd": ".gradient",
        "MinimalPerturbation": ".minimal",
        "minimal_targeted_linf": ".minimal",
        "carlini_wagner": ".minimum_norm",
        "deepfool": ".minimum_norm",
        "attack_mode": ".model_state",
        "ATTACKS": ".params",
        "MAX_L2_EPS": ".params",
        "MAX_LINF_EPS": ".params",
        "NORMS": ".params",
        "TARGETINGS": ".params",
        "AttackParams": ".params",
        "from_uint8": ".quantization",
        "l2_distance": ".quantization",
        "linf_distance": ".quantization",
        "quantize": ".quantization",
        "to_uint8": ".quantization",
        "survive_quantisation": ".rescale",
        "AttackResult": ".run",
        "run_attack": ".run",
    },
)
