"""The participant path's statements prepared once per PostgreSQL connection
(studies/services/prepared_statements.py): prepared on first use, reused, prepared again on
a new connection and after a rolled-back transaction's, and off when PREPARED_STATEMENTS is."""

import pytest
from django.db import connection, transaction
from django.test import override_settings
from rest_framework.test import APIClient

from studies.services import prepared_statements
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.services
PARTICIPANT_PATH = {
    "secondlook_token",
    "secondlook_rate_count_2",
    "secondlook_session_trials",
    "secondlook_mark_presented",
    "secondlook_lock_participant",
    "secondlook_answer_context",
    "secondlook_insert_response",
}


def prepared_here() -> dict[str, int]:
    """This connection's prepared statements: name → times run as a generic or custom plan."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


@pytest.fixture
def fresh_connection(postgres, transactional_db):
    connection.close()  # the suite's earlier tests may have prepared statements on the last one


def a_trial_answered(participant: ParticipantClient) -> None:
    assert participant.enter().status_code == 201
    assert participant.consent().status_code == 200
    trial = participant.next().json()["trial"]
    assert participant.answer(trial).status_code == 201


def test_the_participant_path_prepares_its_statements_once_per_connection(fresh_connection, participant):
    a_trial_answered(participant)
    first = prepared_here()
    assert set(first) >= PARTICIPANT_PATH

    a_trial_answered(ParticipantClient(APIClient(), participant.slug))
    again = prepared_here()
    assert set(again) == set(first)  # run again, not prepared again under other names
    assert again["secondlook_token"] > first["secondlook_token"]
    assert again["secondlook_insert_response"] == first["secondlook_insert_response"] + 1


def test_a_new_connection_prepares_them_again(fresh_connection, participant):
    a_trial_answered(participant)
    connection.close()
    assert prepared_here() == {}

    a_trial_answered(ParticipantClient(APIClient(), participant.slug))
    assert set(prepared_here()) >= PARTICIPANT_PATH


def test_a_statement_prepared_in_a_rolled_back_transaction_is_still_there(fresh_connection):
    sql = "SELECT %s::int + 1"
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor:
            prepared_statements.execute(cursor, "secondlook_test_add", sql, [1])
            assert cursor.fetchone() == (2,)
        raise RuntimeError("roll back")

    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, "secondlook_test_add", sql, [41])
        assert cursor.fetchone() == (42,)
    assert prepared_here() == {"secondlook_test_add": 2}


@override_settings(PREPARED_STATEMENTS=False)
def test_turned_off_nothing_is_prepared(fresh_connection, participant):
    a_trial_answered(participant)
    assert prepared_here() == {}
