"""Saliency maps (Grad-CAM, gradient, SmoothGrad, Integrated Gradients, Occlusion) and
the normalisation policy that makes them comparable across conditions.

Names are imported on first use (see inference.engine.lazy): `params` is torch-free."""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "gradcam_layer": ".layers",
        "explain": ".methods",
        "predicted_classes": ".methods",
        "REFERENCE_PERCENTILE": ".normalize",
        "reference_scale": ".normalize",
        "streamed_reference_scale": ".normalize",
        "to_intensity": ".normalize",
        "METHODS": ".params",
        "GradCamParams": ".params",
        "GradientParams": ".params",
        "IntegratedGradientsParams": ".params",
        "MethodParams": ".params",
        "OcclusionParams": ".params",
        "SmoothGradParams": ".params",
        "default_params": ".params",
        "params_from_dict": ".params",
    },
)
