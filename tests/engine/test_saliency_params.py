"""Parameters of the explanation methods: defaults, round trips through dicts, validation."""

import json

import pytest

from inference.engine.saliency import (
    METHODS,
    GradCamParams,
    IntegratedGradientsParams,
    OcclusionParams,
    SmoothGradParams,
    default_params,
    params_from_dict,
)


@pytest.mark.parametrize("method", METHODS)
def test_default_params_survive_a_round_trip_through_json(method):
    params = default_params(method)

    stored = json.loads(json.dumps(params.to_dict()))

    assert params_from_dict(method, stored) == params


def test_to_dict_holds_exactly_what_determines_the_map():
    assert GradCamParams(layer="net.bn2").to_dict() == {"layer": "net.bn2"}
    assert default_params("gradient").to_dict() == {}
    assert SmoothGradParams().to_dict() == {"nt_samples": 16, "stdevs": 0.15}
    assert IntegratedGradientsParams().to_dict() == {"n_steps": 32, "baseline": 0.0}
    assert OcclusionParams().to_dict() == {"window": 56, "stride": 28, "baseline": 0.0}


def test_absent_fields_take_their_defaults_and_integers_become_floats_where_floats_are_meant():
    params = params_from_dict("smoothgrad", {"stdevs": 1})

    assert params == SmoothGradParams(nt_samples=16, stdevs=1.0)
    assert isinstance(params.stdevs, float)


@pytest.mark.parametrize(
    ("method", "data", "field"),
    [
        ("smoothgrad", {"nt_samples": 0}, "nt_samples"),
        ("smoothgrad", {"nt_samples": True}, "nt_samples"),
        ("smoothgrad", {"stdevs": 0}, "stdevs"),
        ("smoothgrad", {"stdevs": 1.5}, "stdevs"),
        ("smoothgrad", {"stdevs": "0.1"}, "stdevs"),
        ("integrated_gradients", {"n_steps": 2.5}, "n_steps"),
        ("integrated_gradients", {"baseline": -0.1}, "baseline"),
        ("occlusion", {"window": 0}, "window"),
        ("occlusion", {"stride": -4}, "stride"),
        ("occlusion", {"baseline": 2}, "baseline"),
        ("gradcam", {"layer": ""}, "layer"),
        ("gradcam", {"layer": 3}, "layer"),
        ("occlusion", {"windw": 4}, "windw"),
        ("gradient", {"abs": False}, "abs"),
    ],
)
def test_invalid_or_unknown_fields_are_refused_by_name(method, data, field):
    with pytest.raises(ValueError, match=field):
        params_from_dict(method, data)


def test_unknown_methods_and_non_mapping_data_are_refused():
    with pytest.raises(ValueError, match="method must be one of gradcam, gradient"):
        default_params("guided_backprop")
    with pytest.raises(ValueError, match="must be a mapping"):
        params_from_dict("occlusion", [56, 28])


def test_params_are_immutable():
    params = OcclusionParams()

    with pytest.raises(AttributeError):
        params.window = 8
