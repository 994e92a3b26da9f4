import json

import pytest

from inference.engine.attacks import MAX_L2_EPS, AttackParams


def test_defaults_are_filled_in_for_the_attack():
    pgd = AttackParams("pgd", eps=4)
    deepfool = AttackParams("deepfool")
    cw = AttackParams("cw")

    assert (pgd.norm, pgd.steps, pgd.step) == ("linf", 10, 1.0)  # step 2.5 * eps / steps
    assert (deepfool.norm, deepfool.steps, deepfool.overshoot, deepfool.candidates) == ("l2", 50, 0.02, 10)
    assert (cw.norm, cw.steps, cw.confidence, cw.binary_search_steps, cw.initial_const) == (
        "l2",
        100,
        0.0,
        9,
        1e-3,
    )


def test_fields_that_do_not_apply_to_the_attack_stay_unset():
    fgsm = AttackParams("fgsm", eps=2)

    assert fgsm.step is None and fgsm.steps is None and fgsm.overshoot is None


@pytest.mark.parametrize(
    "params",
    [
        AttackParams("fgsm", norm="l2", eps=255),
        AttackParams("bim", eps=4, step=1, steps=8),
        AttackParams("pgd", eps=8, random_start=True, seed=2**63 - 1, targeting="given", target_class=5),
        AttackParams("pgd", norm="l2", eps=510, targeting="least_likely"),
        AttackParams("deepfool", norm="linf", overshoot=0.0, candidates=2),
        AttackParams("cw", targeting="given", target_class=0, confidence=5, steps=100),
    ],
    ids=lambda params: params.attack,
)
def test_to_dict_survives_json_and_from_dict_gives_the_same_parameters(params):
    data = json.loads(json.dumps(params.to_dict()))

    assert AttackParams.from_dict(data) == params


def test_to_dict_leaves_out_unset_fields():
    assert AttackParams("fgsm", eps=3).to_dict() == {
        "attack": "fgsm",
        "norm": "linf",
        "eps": 3.0,
        "targeting": "none",
        "random_start": False,
        "seed": 0,
    }


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"attack": "fgsm", "eps": 0}, "eps"),
        ({"attack": "fgsm", "eps": -1}, "eps"),
        ({"attack": "fgsm", "eps": 256}, "eps"),
        ({"attack": "pgd", "eps": float("nan")}, "eps"),
        ({"attack": "pgd", "eps": True}, "eps"),
        ({"attack": "pgd", "eps": "4"}, "eps"),
        ({"attack": "pgd", "norm": "l2", "eps": MAX_L2_EPS + 1}, "eps"),
        ({"attack": "pgd"}, "eps"),
        ({"attack": "pgd", "eps": 4, "step": 0}, "step"),
        ({"attack": "pgd", "eps": 4, "steps": 0}, "steps"),
        ({"attack": "pgd", "eps": 4, "steps": 10_001}, "steps"),
        ({"attack": "pgd", "eps": 4, "steps": 2.5}, "steps"),
        ({"attack": "pgd", "eps": 4, "seed": -1}, "seed"),
        ({"attack": "pgd", "eps": 4, "seed": 2**63}, "seed"),
        ({"attack": "pgd", "eps": 4, "random_start": "yes"}, "random_start"),
        ({"attack": "bim", "eps": 4, "random_start": True}, "random_start"),
        ({"attack": "pgd", "eps": 4, "norm": "l1"}, "norm"),
        ({"attack": "jsma"}, "attack"),
        ({"attack": "pgd", "eps": 4, "targeting": "most_likely"}, "targeting"),
        ({"attack": "pgd", "eps": 4, "targeting": "given"}, "target_class"),
        ({"attack": "pgd", "eps": 4, "targeting": "given", "target_class": -1}, "target_class"),
        ({"attack": "pgd", "eps": 4, "target_class": 3}, "target_class"),
        ({"attack": "fgsm", "eps": 4, "steps": 3}, "steps"),
        ({"attack": "pgd", "eps": 4, "overshoot": 0.1}, "overshoot"),
        ({"attack": "deepfool", "eps": 4}, "eps"),
        ({"attack": "deepfool", "targeting": "given", "target_class": 1}, "targeting"),
        ({"attack": "deepfool", "candidates": 1}, "candidates"),
        ({"attack": "deepfool", "overshoot": -0.1}, "overshoot"),
        ({"attack": "cw", "norm": "linf"}, "norm"),
        ({"attack": "cw", "confidence": -1}, "confidence"),
        ({"attack": "cw", "initial_const": 0}, "initial_const"),
        ({"attack": "cw", "binary_search_steps": 0}, "binary_search_steps"),
    ],
)
def test_invalid_values_raise_a_value_error_naming_the_field(fields, named):
    with pytest.raises(ValueError, match=named):
        AttackParams(**fields)


def test_check_classes_refuses_a_target_class_the_model_does_not_have():
    params = AttackParams("pgd", eps=4, targeting="given", target_class=1000)

    params.check_classes(1001)
    with pytest.raises(ValueError, match=r"target_class must be a class of the model \(0\.\.999\)"):
        params.check_classes(1000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"attack": "pgd", "eps": 4, "epsilon": 4}, "unknown field.*epsilon"),
        ({"eps": 4}, "missing field: attack"),
        (["pgd"], "must be a mapping"),
    ],
)
def test_from_dict_names_unknown_and_missing_fields(data, message):
    with pytest.raises(ValueError, match=message):
        AttackParams.from_dict(data)


def test_targeted_is_true_for_given_and_least_likely_targeting():
    assert not AttackParams("pgd", eps=1).targeted
    assert AttackParams("pgd", eps=1, targeting="least_likely").targeted
    assert AttackParams("pgd", eps=1, targeting="given", target_class=2).targeted
