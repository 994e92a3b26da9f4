"""Background work in the embedded default: a request that starts long work returns at
once and the work runs on the server's one background thread, after the request's
transaction commits; under the test settings it runs in the caller."""

import threading
import time

import pytest
from celery import shared_task
from django.db import transaction

from inference.background import run_later

ran: list[tuple[object, str]] = []


@shared_task(name="tests.background.record")
def record(value) -> None:
    ran.append((value, threading.current_thread().name))


@shared_task(name="tests.background.fail")
def fail() -> None:
    raise RuntimeError("broken on purpose")


def wait_for_runs(count: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while len(ran) < count and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def clean():
    ran.clear()
    yield
    ran.clear()


def test_the_embedded_server_runs_the_work_on_its_background_thread_after_commit(transactional_db, settings):
    settings.SECONDLOOK_BACKGROUND_THREAD = True
    with transaction.atomic():
        run_later(record, 1)
        run_later("tests.background.record", 2)
        assert ran == []  # nothing before the rows it needs are committed
    wait_for_runs(2)
    assert [value for value, _ in ran] == [1, 2]
    assert all(name.startswith("secondlook-background") for _, name in ran)


def test_a_failing_task_does_not_stop_the_thread(transactional_db, settings, caplog):
    settings.SECONDLOOK_BACKGROUND_THREAD = True
    run_later(fail)
    run_later(record, "after")
    wait_for_runs(1)
    assert ran and ran[0][0] == "after"
    assert "broken on purpose" in caplog.text


def test_under_the_test_settings_the_work_runs_in_the_caller(transactional_db):
    with transaction.atomic():
        run_later(record, 3)
        assert ran == []
    assert ran == [(3, threading.current_thread().name)]
