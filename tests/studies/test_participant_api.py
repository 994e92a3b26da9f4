"""The participant API contract (architecture.md §4): the whole flow, resume, idempotent
replay, and every kind of bad input answered with a 4xx that changes nothing."""

import pytest
from rest_framework.test import APIClient

from studies.models import Participant, Recruitment, Response, Study, Trial
from studies.services import launch as lifecycle
from studies.services import sessions
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def stored_state():
    return sorted(Response.objects.values_list("trial_id", "answer", "rt_ms", "idempotency_key"))


def test_a_participant_consents_judges_every_trial_and_gets_the_completion_code(participant, live_study):
    entered = participant.enter()
    assert entered.status_code == 201
    assert entered.json()["state"] == "consent"
    assert len(entered.json()["token"]) >= 40

    session = participant.get("session").json()
    assert session["consent"] == {
        "version": 1,
        "text": "You agree to take part.",
        "html": "<p>You agree to take part.</p>",
    }
    assert session["instructions"] == "Tick the labels that fit."

    consented = participant.consent()
    assert consented.status_code == 200
    assert consented.json() == {"state": "trials", "progress": {"done": 0, "total": 4}}

    first = participant.next().json()
    trial = first["trial"]
    assert trial["kind"] == "topk_select" and trial["index"] == 0 and trial["multi"] is True
    assert [o["id"] for o in trial["options"]][-1] == "none"
    assert len(trial["options"]) == 6  # k=5 labels + "none of these"
    assert trial["image"]["url"] == f"/stimuli/{trial['image']['sha256']}.png"
    assert len(first["upcoming"]) == 3

    final = participant.complete()
    assert final["completion"] == {"outcome": "completed", "code": "CODE-123", "redirect_url": ""}
    assert final["progress"] == {"done": 4, "total": 4}
    assert Response.objects.count() == 4
    assert Participant.objects.get().status == Participant.Status.COMPLETED
    assert participant.get("session").json()["state"] == "done"


def test_labels_are_shown_in_rank_order_with_the_models_top_k(participant, live_study):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    stored = Trial.objects.get(pk=trial["id"]).item.prediction.topk
    assert [o["id"] for o in trial["options"][:5]] == [t["class_id"] for t in stored[:5]]
    assert [o["text"] for o in trial["options"][:5]] == [t["label"] for t in stored[:5]]


def test_next_returns_the_same_unanswered_trial_until_it_is_answered(participant):
    participant.enter()
    participant.consent()
    first = participant.next().json()["trial"]
    assert participant.next().json()["trial"] == first
    participant.answer(first)
    assert participant.next().json()["trial"]["index"] == 1


def test_a_reload_resumes_at_the_first_unanswered_trial(participant):
    participant.enter()
    participant.consent()
    participant.answer(participant.next().json()["trial"])
    reloaded = ParticipantClient(APIClient(), participant.slug)
    reloaded.token = participant.token
    assert reloaded.get("session").json()["progress"] == {"done": 1, "total": 4}
    assert reloaded.next().json()["trial"]["index"] == 1


def test_a_recruit_coming_back_resumes_the_same_participant(db, tmp_path):
    study = factories.study(tmp_path, platform="prolific")
    first = ParticipantClient(APIClient(), study.slug)
    assert first.enter({"PROLIFIC_PID": "abc", "STUDY_ID": "s1"}).status_code == 201
    first.consent()
    first.answer(first.next().json()["trial"])

    again = ParticipantClient(APIClient(), study.slug)
    resumed = again.enter({"PROLIFIC_PID": "abc", "STUDY_ID": "s1"})
    assert resumed.status_code == 200
    assert resumed.json()["state"] == "trials"
    assert resumed.json()["progress"] == {"done": 1, "total": 4}
    assert Participant.objects.count() == 1
    # The newest link's token wins; the old one no longer works.
    assert first.get("session").status_code == 401
    assert again.next().json()["trial"]["index"] == 1


def test_raw_recruitment_ids_are_kept_apart_from_the_participant(db, tmp_path):
    study = factories.study(tmp_path, platform="prolific")
    ParticipantClient(APIClient(), study.slug).enter({"PROLIFIC_PID": "raw-id-42"})
    participant = Participant.objects.get()
    assert "raw-id-42" not in participant.pseudonym + participant.identity_hash
    assert Recruitment.objects.get().params == {"PROLIFIC_PID": "raw-id-42"}


def test_a_study_with_an_identity_parameter_rejects_links_without_it(db, tmp_path):
    study = factories.study(tmp_path, platform="prolific")
    reply = ParticipantClient(APIClient(), study.slug).enter({"STUDY_ID": "x"})
    assert reply.status_code == 400
    assert "PROLIFIC_PID" in reply.json()["detail"]
    assert Participant.objects.count() == 0


def test_anonymous_links_create_a_new_participant_each_time(participant):
    participant.enter()
    participant.enter()
    assert Participant.objects.count() == 2


def test_declining_consent_ends_the_session_without_a_code(participant):
    participant.enter()
    reply = participant.consent(agree=False)
    assert reply.json()["state"] == "done"
    final = participant.next().json()
    assert final["trial"] is None
    assert final["completion"] == {"outcome": "no_consent", "code": "", "redirect_url": ""}
    assert Trial.objects.count() == 0


def test_a_replayed_answer_returns_the_same_body(participant):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    first = participant.answer(trial, key="same-key-0123456789")
    replay = participant.answer(trial, key="same-key-0123456789")
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.json() == first.json()
    assert Response.objects.count() == 1


def test_the_token_lookup_loads_what_requests_read_and_the_rest_when_first_read(participant, live_study):
    token = participant.enter().json()["token"]
    found = sessions.participant_for_token(token)
    stored = Participant.objects.get()
    assert (found.pk, found.pseudonym, found.status) == (stored.pk, stored.pseudonym, stored.status)
    assert found.version.config == stored.version.config
    assert found.study.requests_per_token_per_minute == live_study.requests_per_token_per_minute
    assert found.created_at == stored.created_at
    assert (found.study.slug, found.version.number) == (live_study.slug, stored.version.number)
    assert sessions.participant_for_token(token + "x") is None


def test_a_replay_tells_the_id_of_the_stored_response(participant):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    participant.answer(trial, key="same-key-0123456789")
    replay = participant.answer(trial, key="same-key-0123456789").json()
    stored = Response.objects.get()
    assert replay["id"] == stored.pk and replay["trial"] == trial["id"]
    assert replay["progress"] == {"done": 1, "total": 4} and replay["finished"] is False


def test_a_trial_shows_what_was_decided_when_it_was_assigned(participant):
    participant.enter()
    participant.consent()
    assert not Trial.objects.filter(presentation__isnull=True).exists()
    first = Trial.objects.order_by("index").first()
    assigned = first.item.stimulus
    # An item edited after assignment (say, its file re-rendered) changes no running session.
    first.item.stimulus = {**assigned, "sha256": "f" * 64}
    first.item.save()
    shown = participant.next().json()["trial"]
    assert shown["image"] == assigned == first.presentation["image"]


def test_trials_assigned_before_presentations_were_stored_get_theirs_on_first_read(participant):
    participant.enter()
    participant.consent()
    expected = participant.next().json()
    stored = {t.pk: t.presentation for t in Trial.objects.all()}
    Trial.objects.update(presentation=None)  # as migration 0015 leaves older trials
    assert participant.next().json() == expected
    upcoming = Trial.objects.order_by("index")[: 1 + len(expected["upcoming"])]
    assert {t.pk: t.presentation for t in upcoming} == {t.pk: stored[t.pk] for t in upcoming}


def test_an_answer_to_a_trial_id_no_database_could_hold_is_404(participant):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    reply = participant.answer({**trial, "id": 2**63})
    assert reply.status_code == 404 and reply.json()["code"] == "unknown_trial"
    assert Response.objects.count() == 0


def test_a_different_answer_to_an_answered_trial_is_a_conflict_and_keeps_the_first(participant):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    participant.answer(trial, selected=[trial["options"][0]["id"]], key="first-key-0123456789")
    before = stored_state()
    reply = participant.answer(trial, selected=["none"], key="other-key-0123456789")
    assert reply.status_code == 409
    assert reply.json()["code"] == "already_answered"
    assert stored_state() == before


def test_the_last_answer_completes_the_session_and_a_replay_of_it_still_works(participant):
    participant.enter()
    participant.consent()
    for _ in range(3):
        participant.answer(participant.next().json()["trial"])
    last = participant.next().json()["trial"]
    first = participant.answer(last, key="last-key-0123456789")
    assert first.json()["finished"] is True
    replay = participant.answer(last, key="last-key-0123456789")
    assert replay.status_code == 200 and replay.json() == first.json()


def test_withdrawing_deletes_the_answers_and_keeps_an_audit_record(participant, live_study):
    participant.enter()
    participant.consent()
    participant.answer(participant.next().json()["trial"])
    reply = participant.post("session/withdraw")
    assert reply.status_code == 200
    assert reply.json()["completion"]["outcome"] == "withdrawn"
    assert Response.objects.count() == 0
    log = live_study.audit_log.get()
    assert log.action == "withdrawn" and log.detail == {"responses_deleted": 1}
    assert participant.next().json()["completion"]["outcome"] == "withdrawn"


def test_items_are_least_judged_first_and_never_twice_for_one_participant(db, tmp_path):
    study = factories.study(tmp_path, n_images=6, per_participant=4)
    seen = []
    for _ in range(3):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter()
        client.consent()
        newest = Participant.objects.latest("id")
        items = list(newest.trials.values_list("item_id", flat=True))
        assert len(items) == len(set(items)) == 4
        seen.append(set(items))
    counts = {}
    for items in seen:
        for item in items:
            counts[item] = counts.get(item, 0) + 1
    # 12 trials over 6 items, least-judged first: every item exactly twice.
    assert sorted(counts.values()) == [2] * 6


# ---- bad input: a clear 4xx, and nothing stored changes -------------------------------


def test_an_unknown_study_is_404(api, db):
    reply = api.post("/api/v1/studies/nope/sessions", {"params": {}}, format="json")
    assert reply.status_code == 404
    assert reply.json()["code"] == "unknown_study"


@pytest.mark.parametrize("status", [Study.Status.DRAFT, Study.Status.PAUSED, Study.Status.CLOSED])
def test_a_study_that_is_not_live_turns_new_participants_away(db, tmp_path, api, status):
    study = factories.study(tmp_path, live=status != Study.Status.DRAFT)
    if status == Study.Status.PAUSED:
        lifecycle.pause(study)
    elif status == Study.Status.CLOSED:
        lifecycle.close(study)
    reply = api.post(f"/api/v1/studies/{study.slug}/sessions", {"params": {}}, format="json")
    assert reply.status_code == 409
    assert reply.json()["code"] == "study_not_live"
    assert Participant.objects.count() == 0


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer forged-token-value", "Token abc", "Bearer a b"])
def test_missing_or_forged_tokens_are_401(api, live_study, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    for path in ["session", "session/next"]:
        reply = api.get(f"/api/v1/{path}", **kwargs)
        assert reply.status_code == 401, (path, header)
        assert "detail" in reply.json()


def test_an_answer_for_a_trial_that_is_not_yours_is_404_and_changes_nothing(participant, live_study):
    participant.enter()
    participant.consent()
    other = ParticipantClient(APIClient(), live_study.slug)
    other.enter()
    other.consent()
    others_trial = other.next().json()["trial"]
    reply = participant.answer(others_trial)
    assert reply.status_code == 404
    assert Response.objects.count() == 0


def test_malformed_json_is_400(participant):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    reply = participant.client.post(
        f"/api/v1/session/trials/{trial['id']}/response",
        data="{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {participant.token}",
    )
    assert reply.status_code == 400
    assert "JSON" in reply.json()["detail"]
    assert Response.objects.count() == 0


@pytest.mark.parametrize(
    "selected, problem",
    [
        (["not-an-option"], "unknown option"),
        ([], "non-empty"),
        (["none", "FIRST"], "excludes"),
        (["FIRST", "FIRST"], "distinct"),
        ([3], "distinct"),
    ],
)
def test_invalid_selections_are_400_with_field_errors(participant, selected, problem):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    selected = [trial["options"][0]["id"] if s == "FIRST" else s for s in selected]
    reply = participant.answer(trial, selected=selected)
    assert reply.status_code == 400
    assert problem in str(reply.json()["errors"]["answer"])
    assert Response.objects.count() == 0


@pytest.mark.parametrize("rt_ms", [-1, 3_600_001, "fast", None, 1e308])
def test_negative_or_absurd_reaction_times_are_400(participant, rt_ms):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    reply = participant.post(
        f"session/trials/{trial['id']}/response",
        {"answer": {"selected": ["none"]}, "rt_ms": rt_ms, "key": "valid-key-0123456789"},
    )
    assert reply.status_code == 400
    assert "rt_ms" in reply.json()["errors"]
    assert Response.objects.count() == 0


@pytest.mark.parametrize("key", [None, "short", "has spaces in it!!", "x" * 101])
def test_a_missing_or_bad_idempotency_key_is_400(participant, key):
    participant.enter()
    participant.consent()
    trial = participant.next().json()["trial"]
    body = {"answer": {"selected": ["none"]}, "rt_ms": 500}
    if key is not None:
        body["key"] = key
    reply = participant.post(f"session/trials/{trial['id']}/response", body)
    assert reply.status_code == 400
    assert "key" in reply.json()["errors"]


def test_answering_after_declining_consent_is_refused(participant, live_study):
    participant.enter()
    participant.consent(agree=False)
    reply = participant.post(
        "session/trials/1/response", {"answer": {"selected": ["none"]}, "rt_ms": 5, "key": "k" * 20}
    )
    assert reply.status_code == 404


def test_consent_with_a_stale_version_is_400_and_consent_cannot_be_given_twice(participant):
    participant.enter()
    assert participant.consent(version=7).status_code == 400
    assert Participant.objects.get().status == Participant.Status.CONSENT
    assert participant.consent().status_code == 200
    again = participant.consent()
    assert again.status_code == 409
    assert Trial.objects.count() == 4


def test_session_creation_rejects_non_object_params(api, live_study):
    reply = api.post(f"/api/v1/studies/{live_study.slug}/sessions", {"params": ["a"]}, format="json")
    assert reply.status_code == 400
    assert "params" in reply.json()["errors"]


def test_wrong_methods_are_405(participant):
    participant.enter()
    assert participant.get("session/consent").status_code == 405
    assert participant.post("session/next").status_code == 405


def test_the_openapi_schema_describes_every_participant_endpoint(api, db):
    reply = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert reply.status_code == 200
    paths = reply.json()["paths"]
    for path in [
        "/api/v1/studies/{slug}/sessions",
        "/api/v1/session",
        "/api/v1/session/consent",
        "/api/v1/session/next",
        "/api/v1/session/trials/{trial_id}/response",
        "/api/v1/session/withdraw",
    ]:
        assert path in paths, path


# ---- recruitment platforms -------------------------------------------------------------


PROLIFIC = {"PROLIFIC_PID": "5f1a", "STUDY_ID": "st1", "SESSION_ID": "se1"}
MTURK = {
    "workerId": "A1B2",
    "assignmentId": "3ASSIGN",
    "hitId": "3HIT",
    "turkSubmitTo": "https://workersandbox.mturk.com",
}


def test_a_prolific_recruit_who_completed_sees_that_and_gets_no_second_session(db, tmp_path):
    study = factories.study(tmp_path, platform="prolific")
    first = ParticipantClient(APIClient(), study.slug)
    first.enter(PROLIFIC)
    first.consent()
    first.complete()
    again = ParticipantClient(APIClient(), study.slug)
    reply = again.enter(PROLIFIC)
    assert reply.status_code == 200 and reply.json()["state"] == "done"
    completion = again.next().json()["completion"]
    assert completion["outcome"] == "completed"
    assert completion["redirect_url"] == "https://app.prolific.com/submissions/complete?cc=CODE-123"
    assert Participant.objects.count() == 1 and Response.objects.count() == 4


def test_an_mturk_preview_creates_no_participant(db, tmp_path):
    study = factories.study(tmp_path, platform="mturk")
    reply = ParticipantClient(APIClient(), study.slug).enter(
        {**MTURK, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}
    )
    assert reply.status_code == 409 and reply.json()["code"] == "mturk_preview"
    assert Participant.objects.count() == 0


@pytest.mark.parametrize(
    "submit_to, expected",
    [
        (
            "https://workersandbox.mturk.com",
            "https://workersandbox.mturk.com/mturk/externalSubmit?assignmentId=3ASSIGN&completion_code=CODE-123",
        ),
        ("https://evil.example.org", ""),
        ("http://www.mturk.com", ""),
    ],
)
def test_mturk_workers_are_sent_back_to_mturk_only(db, tmp_path, submit_to, expected):
    study = factories.study(tmp_path, platform="mturk")
    client = ParticipantClient(APIClient(), study.slug)
    assert client.enter({**MTURK, "turkSubmitTo": submit_to}).status_code == 201
    client.consent()
    assert client.complete()["completion"]["redirect_url"] == expected


def test_a_researchers_redirect_url_wins_over_the_platforms(db, tmp_path):
    study = factories.study(tmp_path, platform="prolific", redirect_url="https://lab.example.org/done")
    client = ParticipantClient(APIClient(), study.slug)
    client.enter(PROLIFIC)
    client.consent()
    assert client.complete()["completion"]["redirect_url"] == "https://lab.example.org/done"


def test_a_custom_identity_parameter_and_the_frozen_version_decide(db, tmp_path):
    study = factories.study(tmp_path, platform="custom", identity_param="pid")
    study.platform = Study.Platform.ANONYMOUS  # edited after launch: the version still rules
    study.save()
    assert ParticipantClient(APIClient(), study.slug).enter({"other": "x"}).status_code == 400
    assert ParticipantClient(APIClient(), study.slug).enter({"pid": "x"}).status_code == 201
    assert ParticipantClient(APIClient(), study.slug).enter({"pid": "x"}).status_code == 200


def test_declining_and_withdrawing_show_their_own_codes_and_redirects(db, tmp_path):
    study = factories.study(
        tmp_path,
        no_consent_code="NOCONSENT",
        no_consent_redirect_url="https://lab.example.org/no-consent",
        withdrawn_code="WITHDRAWN",
    )
    declined = ParticipantClient(APIClient(), study.slug)
    declined.enter()
    declined.consent(agree=False)
    assert declined.next().json()["completion"] == {
        "outcome": "no_consent",
        "code": "NOCONSENT",
        "redirect_url": "https://lab.example.org/no-consent",
    }
    leaving = ParticipantClient(APIClient(), study.slug)
    leaving.enter()
    leaving.consent()
    reply = leaving.post("session/withdraw").json()
    assert reply["completion"] == {"outcome": "withdrawn", "code": "WITHDRAWN", "redirect_url": ""}


@pytest.mark.parametrize(
    "platform, params, expected",
    [
        ("prolific", PROLIFIC, "https://app.prolific.com/submissions/complete?cc=NOCONSENT"),
        ("mturk", MTURK, ""),  # a worker who declines returns the HIT; nothing is submitted
    ],
)
def test_declining_on_a_platform_leads_back_only_where_that_makes_sense(
    db, tmp_path, platform, params, expected
):
    study = factories.study(tmp_path, platform=platform, no_consent_code="NOCONSENT")
    client = ParticipantClient(APIClient(), study.slug)
    client.enter(params)
    client.consent(agree=False)
    assert client.next().json()["completion"]["redirect_url"] == expected


def test_outcome_codes_are_frozen_at_launch(live_study, participant):
    live_study.no_consent_code = "CHANGED-LATER"
    live_study.save()
    participant.enter()
    participant.consent(agree=False)
    assert participant.next().json()["completion"]["code"] == ""


def test_a_token_from_another_study_reaches_none_of_this_studys_trials(db, tmp_path):
    first = factories.study(tmp_path / "a", slug="first", set_name="a")
    second = factories.study(tmp_path / "b", slug="second", set_name="b")
    mine = ParticipantClient(APIClient(), first.slug)
    mine.enter()
    mine.consent()
    theirs = ParticipantClient(APIClient(), second.slug)
    theirs.enter()
    theirs.consent()
    their_trial = theirs.next().json()["trial"]
    assert mine.answer(their_trial).status_code == 404
    assert (
        mine.post(f"session/trials/{their_trial['id']}/problem", {"reason": "image_unavailable"}).status_code
        == 404
    )
    assert mine.next().json()["trial"]["id"] != their_trial["id"]
    assert not Response.objects.exists()
