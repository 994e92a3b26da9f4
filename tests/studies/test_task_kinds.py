"""Every task kind through the participant API: what each trial shows (stimulus, label,
options, explanation), which answers it accepts, practice feedback, attention checks, and
trials skipped because the browser could not load their images."""

import pytest
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from inference.models import AdversarialImage, Explanation, ModelInput, Prediction
from studies.models import ExclusionEvent, Item, Participant, Response, Study, Trial
from studies.services import launch as lifecycle
from studies.services import status as study_status
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
ATTACK = {"attack": "pgd", "eps": 8, "steps": 10}
CLASS_IDS = imagenet_1k().class_ids


def make(tmp_path, n_images=6, per_participant=4, **fields):
    fields.setdefault("labels", CLASS_IDS[:n_images])
    return factories.study(tmp_path, n_images, per_participant, prepared=True, slug="kinds", **fields)


def session(study, seed=None):
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    if seed is not None:
        Participant.objects.filter(pseudonym=client.get("session").json()["participant"]).update(seed=seed)
    assert client.consent().status_code == 200
    return client


def all_trials(client):
    """Every trial of the session, answering each with its first option."""
    seen = []
    while (trial := client.next().json()["trial"]) is not None:
        seen.append(trial)
        assert client.respond(trial, client.valid_answer(trial)).status_code == 201
    return seen


def test_label_check_on_clean_and_adversarial_images_shows_the_models_label_on_what_is_shown(tmp_path):
    study = make(
        tmp_path, task_kind="label_check", stimuli="both", attack=ATTACK, explanation_display="side_by_side"
    )
    version = study.current_version
    assert Item.objects.filter(version=version).count() == 12  # 6 clean + 6 adversarial
    client = session(study)
    trials = all_trials(client)
    assert len(trials) == 4
    for trial in trials:
        item = Trial.objects.get(pk=trial["id"]).item
        shown = item.adversarial if item.adversarial_id else ModelInput.objects.get(image=item.image)
        # The model's view (not the original file) for clean items, the stored file for adversarial ones.
        assert trial["image"] == {
            "url": f"/stimuli/{shown.sha256}.png",
            "width": shown.width,
            "height": shown.height,
            "sha256": shown.sha256,
        }
        label = (item.adversarial.topk if item.adversarial_id else item.prediction.topk)[0]["label"]
        assert trial["prompt"] == f"Is “{label}” a reasonable description of this image?"
        assert trial["options"] == [{"id": "yes", "text": "Yes"}, {"id": "no", "text": "No"}]
        assert trial["multi"] is False and trial["confidence"] is True and trial["practice"] is False
        overlay = Explanation.objects.get(image=item.image, adversarial=item.adversarial)
        assert trial["explanation"]["display"] == "side_by_side"
        assert trial["explanation"]["image"]["url"] == f"/stimuli/{overlay.overlay_sha256}.png"
        assert trial["explanation"]["image"]["sha256"] == overlay.overlay_sha256
        assert label in trial["explanation"]["caption"]
    # A clean image and its adversarial version are one source: nobody sees both.
    sources = [Trial.objects.get(pk=t["id"]).item.image_id for t in trials]
    assert len(set(sources)) == len(sources)


def test_no_participant_ever_gets_two_versions_of_one_source_image(tmp_path):
    study = make(tmp_path, task_kind="label_check", stimuli="both", attack=ATTACK, per_participant=6)
    for seed in range(8):
        session(study, seed=seed)
    for participant in Participant.objects.all():
        images = list(participant.trials.values_list("item__image_id", flat=True))
        assert len(images) == 6 == len(set(images))


def test_failed_attacks_are_left_out_and_the_readiness_check_says_so(tmp_path):
    study = make(tmp_path, task_kind="label_check", stimuli="adversarial", attack=ATTACK, live=False)
    AdversarialImage.objects.filter(pk__in=AdversarialImage.objects.order_by("id")[:2]).update(success=False)
    plan = lifecycle.readiness(study)
    assert plan.problems == []
    assert "2 attacks did not change the prediction and are left out" in plan.notes
    version = lifecycle.launch(study)
    assert version.items.count() == 4
    assert all(item.adversarial.success for item in version.items.all())


def test_a_toggle_explanation_and_confidence_answers_are_stored_as_given(tmp_path):
    study = make(
        tmp_path, task_kind="label_check", explanation_display="toggle", explanation_method="gradient"
    )
    client = session(study)
    trial = client.next().json()["trial"]
    assert trial["explanation"]["display"] == "toggle" and trial["explanation"]["method"] == "gradient"
    views = [{"open_ms": 812, "close_ms": 1490}]
    reply = client.respond(trial, {"choice": "no", "confidence": 2}, client={"explanation_views": views})
    assert reply.status_code == 201
    response = Response.objects.get(trial_id=trial["id"])
    assert response.answer == {"choice": "no", "confidence": 2}
    assert response.client["explanation_views"] == views


def test_examples_show_prototypes_of_the_predicted_class_other_than_the_image(tmp_path):
    study = make(tmp_path, task_kind="label_check", explanation_display="examples", examples_count=2)
    client = session(study)
    trial = client.next().json()["trial"]
    item = Trial.objects.get(pk=trial["id"]).item
    examples = trial["explanation"]["examples"]
    assert trial["explanation"]["display"] == "examples" and trial["explanation"]["image"] is None
    assert len(examples) == 2
    prototypes = [
        m.sha256
        for m in ModelInput.objects.filter(image__in=study.image_set.images.order_by("id")[:3]).order_by(
            "image_id"
        )
        if m.image_id != item.image_id
    ]
    assert [e["sha256"] for e in examples] == prototypes[:2]
    assert all(e["url"] == f"/stimuli/{e['sha256']}.png" for e in examples)


def test_forced_choice_offers_the_datasets_label_and_the_models_in_stored_random_order(tmp_path):
    study = make(tmp_path, task_kind="forced_choice", per_participant=6)
    orders = set()
    for seed in range(6):
        client = session(study, seed=seed)
        for trial in all_trials(client):
            item = Trial.objects.get(pk=trial["id"]).item
            dataset = {"id": item.image.true_class, "text": item.image.true_label}
            model = {"id": item.prediction.topk[0]["class_id"], "text": item.prediction.topk[0]["label"]}
            assert trial["prompt"] == "Which label describes this image better?"
            assert sorted(trial["options"], key=lambda o: o["id"]) == sorted(
                [dataset, model], key=lambda o: o["id"]
            )
            orders.add(trial["options"][0]["id"] == dataset["id"])
    assert orders == {True, False}  # left/right placement varies


def test_forced_choice_leaves_out_images_the_model_labels_as_the_dataset_does(tmp_path):
    study = make(tmp_path, task_kind="forced_choice", live=False)
    first = study.image_set.images.order_by("id").first()
    prediction = first.predictions.get()
    prediction.topk[0]["class_id"] = first.true_class
    prediction.save()
    plan = lifecycle.readiness(study)
    assert len(plan.items) == 5
    assert "1 stimuli are classified as their dataset label (nothing to choose between)" in plan.notes


def test_manipulation_checks_mix_clean_and_altered_images(tmp_path):
    study = make(tmp_path, task_kind="manipulation_check", stimuli="both", attack=ATTACK, per_participant=6)
    altered = set()
    for seed in range(4):
        for trial in all_trials(session(study, seed=seed)):
            assert trial["prompt"].startswith("Was this image digitally altered")
            assert [o["id"] for o in trial["options"]] == ["yes", "no"]
            altered.add(Trial.objects.get(pk=trial["id"]).item.altered)
    assert altered == {True, False}


@pytest.mark.parametrize(
    "answer",
    [
        {"choice": "yes"},  # confidence missing
        {"choice": "yes", "confidence": 0},
        {"choice": "yes", "confidence": 6},
        {"choice": "yes", "confidence": "3"},
        {"choice": "yes", "confidence": True},
        {"choice": "maybe", "confidence": 3},  # not an option shown
        {"choice": ["yes", "no"], "confidence": 3},  # two choices where one is allowed
        {"selected": ["yes"]},
        {"choice": "yes", "confidence": 3, "extra": 1},
    ],
)
def test_tampered_choice_answers_are_refused_and_nothing_is_stored(tmp_path, answer):
    study = make(tmp_path, task_kind="label_check")
    client = session(study)
    trial = client.next().json()["trial"]
    reply = client.respond(trial, answer)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_answer"
    assert Response.objects.count() == 0
    assert client.next().json()["trial"]["id"] == trial["id"]


def test_confidence_is_refused_when_the_study_does_not_ask_for_it(tmp_path):
    study = make(tmp_path, task_kind="label_check", ask_confidence=False)
    client = session(study)
    trial = client.next().json()["trial"]
    assert trial["confidence"] is False
    assert client.respond(trial, {"choice": "yes", "confidence": 3}).status_code == 400
    assert client.respond(trial, {"choice": "yes"}).status_code == 201


def test_practice_trials_come_first_give_feedback_and_do_not_count(tmp_path):
    study = make(tmp_path, task_kind="label_check", practice_trials=2, per_participant=3)
    client = session(study)
    assert client.get("session").json()["progress"] == {"done": 0, "total": 3}
    for _ in range(2):
        trial = client.next().json()["trial"]
        assert trial["practice"] is True
        stored = Trial.objects.get(pk=trial["id"])
        wrong = "no" if stored.expected["choice"] == "yes" else "yes"
        receipt = client.respond(trial, {"choice": wrong, "confidence": 3}).json()
        assert receipt["feedback"]["correct"] is False
        truth = stored.item.image.true_label
        assert f"“{truth}”" in receipt["feedback"]["message"]
        assert receipt["progress"] == {"done": 0, "total": 3}
        # The practice label is the model's, as in real trials: yes exactly when it is the dataset's.
        model = stored.item.prediction.topk[0]
        assert trial["prompt"] == f"Is “{model['label']}” a reasonable description of this image?"
        assert (stored.expected["choice"] == "yes") == (model["class_id"] == stored.item.image.true_class)
    rest = all_trials(client)
    assert [t["practice"] for t in rest] == [False] * 3
    assert client.next().json()["completion"]["outcome"] == "completed"


def test_practice_and_gold_ask_about_the_models_label_and_expect_what_the_dataset_says(tmp_path):
    study = make(
        tmp_path, task_kind="label_check", practice_trials=2, gold_trials=2, per_participant=2, live=False
    )
    labels = imagenet_1k()
    # Half the images are classified as their dataset label, so both answers are expected.
    for prediction in Prediction.objects.order_by("id")[::2]:
        index = labels.class_ids.index(prediction.image.true_class)
        prediction.topk[0].update(index=index, class_id=labels.class_ids[index], label=labels.names[index])
        prediction.save(update_fields=["topk"])
    lifecycle.launch(study)
    expected = set()
    for seed in range(6):
        all_trials(session(study, seed=seed))
    for trial in Trial.objects.filter(role__in=["practice", "gold"]).select_related("item__prediction"):
        model = trial.item.prediction.topk[0]
        assert f"“{model['label']}”" in trial.prompt
        choice = "yes" if model["class_id"] == trial.item.image.true_class else "no"
        assert trial.expected == {"choice": choice}
        expected.add(choice)
    assert expected == {"yes", "no"}


def test_a_wrong_model_label_in_practice_is_told_with_the_dataset_label(tmp_path):
    study = make(tmp_path, task_kind="label_check", practice_trials=1)
    client = session(study)
    trial = client.next().json()["trial"]
    stored = Trial.objects.get(pk=trial["id"])
    assert stored.expected == {"choice": "no"}  # the stand-in model is never right here
    receipt = client.respond(trial, {"choice": "no", "confidence": 4}).json()
    truth, model = stored.item.image.true_label, stored.item.prediction.topk[0]["label"]
    assert receipt["feedback"] == {
        "correct": True,
        "message": f"The dataset's label for this image is “{truth}”, not “{model}”.",
    }


def test_correct_practice_answers_are_told_so(tmp_path):
    study = make(tmp_path, task_kind="manipulation_check", stimuli="both", attack=ATTACK, practice_trials=1)
    client = session(study)
    trial = client.next().json()["trial"]
    stored = Trial.objects.get(pk=trial["id"])
    receipt = client.respond(trial, {"choice": stored.expected["choice"], "confidence": 5}).json()
    assert receipt["feedback"]["correct"] is True
    altered = "was altered" if stored.item.altered else "was not altered"
    assert altered in receipt["feedback"]["message"]


def test_attention_checks_are_never_first_never_adjacent_and_name_their_answer(tmp_path):
    study = make(tmp_path, task_kind="topk_select", attention_checks=2, per_participant=4, n_images=8)
    for seed in range(12):
        client = session(study, seed=seed)
        participant = Participant.objects.order_by("-id").first()
        roles = list(participant.trials.order_by("index").values_list("role", flat=True))
        assert roles.count("attention") == 2 and roles.count("main") == 4
        assert roles[0] == "main"
        assert all(not (a == b == "attention") for a, b in zip(roles, roles[1:], strict=False))
        check = participant.trials.filter(role="attention").first()
        asked = next(o for o in check.options if o["id"] == check.expected["choice"])
        assert f"“{asked['text']}”" in check.prompt
        payload = next(t for t in all_trials(client) if t["id"] == check.id)
        assert payload["kind"] == "attention" and payload["explanation"] is None
        assert payload["multi"] is False and payload["confidence"] is False
        assert "expected" not in payload


def test_a_trial_whose_image_cannot_load_is_skipped_and_recorded(tmp_path):
    study = make(tmp_path, task_kind="label_check", per_participant=2)
    client = session(study)
    trial = client.next().json()["trial"]
    body = {"reason": "checksum_mismatch", "detail": "got 3f2a… expected 9be1…"}
    first = client.post(f"session/trials/{trial['id']}/problem", body)
    assert first.status_code == 201
    assert first.json() == {"trial": trial["id"], "progress": {"done": 1, "total": 2}, "finished": False}
    assert client.post(f"session/trials/{trial['id']}/problem", body).status_code == 200  # replay
    stored = Trial.objects.get(pk=trial["id"])
    assert (stored.problem, stored.problem_detail) == ("checksum_mismatch", body["detail"])
    # The next trial follows; the skipped one is never offered again nor answerable.
    second = client.next().json()["trial"]
    assert second["id"] != trial["id"]
    assert client.respond(trial, {"choice": "yes", "confidence": 3}).status_code == 409
    assert client.respond(second, {"choice": "yes", "confidence": 3}).json()["finished"] is True
    assert client.next().json()["completion"]["outcome"] == "completed"
    assert study_status.summary(study)["skipped_trials"] == {"checksum_mismatch": 1}


def test_problem_reports_with_bad_input_change_nothing(tmp_path):
    study = make(tmp_path, task_kind="label_check", per_participant=2)
    client = session(study)
    trial = client.next().json()["trial"]
    assert client.post(f"session/trials/{trial['id']}/problem", {"reason": "bored"}).status_code == 400
    other = session(study)
    other_trial = other.next().json()["trial"]
    reply = client.post(f"session/trials/{other_trial['id']}/problem", {"reason": "image_unavailable"})
    assert reply.status_code == 404
    client.respond(trial, {"choice": "yes", "confidence": 3})
    answered = client.post(f"session/trials/{trial['id']}/problem", {"reason": "image_unavailable"})
    assert answered.status_code == 409
    assert not Trial.objects.exclude(problem="").exists()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"stimuli": "adversarial", "attack": {"attack": "pgd", "eps": 999}}, "the attack is invalid"),
        ({"stimuli": "adversarial", "attack": {}}, "the attack is invalid: attack is required"),
    ],
)
def test_a_study_with_a_bad_attack_cannot_launch(tmp_path, fields, expected):
    study = factories.study(tmp_path, live=False, task_kind="label_check", **fields)
    with pytest.raises(lifecycle.NotReady) as refused:
        lifecycle.launch(study)
    assert any(problem.startswith(expected) for problem in refused.value.problems)
    assert study.versions.count() == 0


def test_missing_preparations_are_named_before_launch(tmp_path):
    study = factories.study(
        tmp_path,
        live=False,
        task_kind="label_check",
        stimuli="both",
        attack=ATTACK,
        explanation_display="side_by_side",
    )
    problems = lifecycle.readiness_problems(study)
    assert "6 images have no stored model view yet (prepare the study)" in problems
    assert "6 images have no adversarial version under this attack yet (prepare the study)" in problems
    factories.prepare_stimuli(study)
    Explanation.objects.filter(adversarial__isnull=False).delete()
    assert lifecycle.readiness_problems(study) == [
        "6 stimuli have no explanation map yet (prepare the study)"
    ]


def test_examples_need_prototypes_of_the_predicted_class(tmp_path):
    study = factories.study(tmp_path, live=False, task_kind="label_check", explanation_display="examples")
    plan = lifecycle.readiness(study)
    assert plan.problems == ["no image gives an item for this task (see the notes)"]
    assert plan.notes == ["6 stimuli are left out: the predicted class has no prototypes in the image set"]


def test_required_preparations_come_in_the_order_they_read_each_other(tmp_path):
    from studies.services.stimuli import required_jobs

    study = factories.study(
        tmp_path,
        live=False,
        task_kind="label_check",
        stimuli="both",
        attack=ATTACK,
        explanation_display="toggle",
    )
    kinds = [kind for kind, _ in required_jobs(study)]
    assert kinds == ["predictions", "adversarial", "explanations"]
    explanations = required_jobs(study)[2][1]
    assert explanations["on"] == "clean_and_adversarial" and explanations["attack"]["eps"] == 8
    study.explanation_display = Study.ExplanationDisplay.EXAMPLES
    assert [kind for kind, _ in required_jobs(study)] == [
        "predictions",
        "adversarial",
        "features",
        "prototypes",
    ]


def answer_checks(client, fail: int):
    """Answer every trial, failing the first `fail` attention checks; the last reply."""
    failed = 0
    while (trial := client.next().json()["trial"]) is not None:
        answer = client.valid_answer(trial)
        if trial["kind"] == "attention":
            asked = Trial.objects.get(pk=trial["id"]).expected["choice"]
            wrong = next(o["id"] for o in trial["options"] if o["id"] != asked)
            answer = {"choice": wrong if failed < fail else asked}
            failed += answer["choice"] == wrong
        reply = client.respond(trial, answer)
        assert reply.status_code == 201
    return client.next().json()


def test_failing_too_many_attention_checks_ends_the_session_as_screened_out(tmp_path):
    study = make(
        tmp_path,
        task_kind="topk_select",
        n_images=8,
        per_participant=4,
        attention_checks=3,
        exclusion_rules=[{"rule": "failed_attention", "threshold": 2, "mode": "live"}],
        screened_out_code="SCREENED",
        platform="prolific",
    )
    client = ParticipantClient(APIClient(), study.slug)
    client.enter({"PROLIFIC_PID": "p-1"})
    client.consent()
    final = answer_checks(client, fail=3)
    assert final["completion"] == {
        "outcome": "screened_out",
        "code": "SCREENED",
        "redirect_url": "https://app.prolific.com/submissions/complete?cc=SCREENED",
    }
    participant = Participant.objects.get()
    assert participant.status == "screened_out"
    assert client.get("session").json()["state"] == "screened_out"
    failed = list(participant.trials.filter(role="attention", response__isnull=False).order_by("index"))
    assert len(failed) == 2  # the session ended at the second failure
    event = ExclusionEvent.objects.get()
    assert (event.rule, event.mode, event.threshold) == ("failed_attention", "live", 2)
    assert event.evidence == {"value": 2, "answered": 2}
    assert participant.excluded
    # Coming back changes nothing: the recruit sees the outcome, and cannot answer again.
    again = ParticipantClient(APIClient(), study.slug)
    assert again.enter({"PROLIFIC_PID": "p-1"}).json()["state"] == "screened_out"
    open_trial = participant.trials.filter(response__isnull=True).first()
    refused = again.respond({"id": open_trial.id}, {"selected": [open_trial.options[0]["id"]]})
    assert refused.status_code == 409 and refused.json()["code"] == "session_ended"


def test_passing_the_attention_checks_or_failing_fewer_than_the_limit_completes(tmp_path):
    rules = [{"rule": "failed_attention", "threshold": 2, "mode": "live"}]
    study = make(tmp_path, n_images=8, per_participant=4, attention_checks=3, exclusion_rules=rules)
    assert answer_checks(session(study), fail=1)["completion"]["outcome"] == "completed"
    assert answer_checks(session(study), fail=0)["completion"]["outcome"] == "completed"
    assert not ExclusionEvent.objects.exists()


def test_a_screen_out_rule_that_can_never_fire_is_pointed_out(tmp_path):
    rules = [{"rule": "failed_attention", "threshold": 2, "mode": "live"}]
    study = make(tmp_path, attention_checks=1, exclusion_rules=rules, live=False)
    assert "the failed_attention rule never applies" in " ".join(lifecycle.readiness(study).notes)


def test_a_trial_not_shown_yet_cannot_be_answered_or_reported(tmp_path):
    study = make(tmp_path, task_kind="label_check", per_participant=3)
    client = session(study)
    current = client.next().json()["trial"]
    later = Trial.objects.filter(
        participant__pseudonym=client.get("session").json()["participant"], index=2
    ).get()
    forged = {"id": later.id}
    reply = client.respond(forged, {"choice": "yes", "confidence": 3})
    assert reply.status_code == 409 and reply.json()["code"] == "not_presented"
    report = client.post(f"session/trials/{later.id}/problem", {"reason": "image_unavailable"})
    assert report.status_code == 409
    assert not Response.objects.exists() and not Trial.objects.exclude(problem="").exists()
    assert client.respond(current, {"choice": "yes", "confidence": 3}).status_code == 201


def test_a_design_may_show_both_versions_of_an_image_to_one_participant(tmp_path):
    study = make(
        tmp_path,
        task_kind="manipulation_check",
        stimuli="both",
        attack=ATTACK,
        per_participant=12,
        one_version_per_image=False,
    )
    client = session(study)
    trials = all_trials(client)
    assert len(trials) == 12
    versions = {(t.item.image_id, t.item.altered) for t in Trial.objects.filter(role="main")}
    assert len(versions) == 12  # every image, clean and altered
