"""Twenty participants answering at once through gunicorn, as bench/load.py runs them at
scale (bench/loadgen.py), on PostgreSQL with the production settings and on the embedded
SQLite default: every acknowledged answer is stored exactly once, nothing unacknowledged is
stored, and the design's invariants hold. Behaviour only; bench/load.py measures speed."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import load_study, loadgen, web_server
from studies.models import Participant, Response

ROOT = Path(__file__).resolve().parents[2]
PARTICIPANTS = 20
# Many answers sent twice at once, so that the replay path runs under contention.
DUPLICATE = 0.2
pytestmark = pytest.mark.services


@pytest.mark.django_db(transaction=True)
def test_simultaneous_participants_on_gunicorn_and_postgres_lose_and_duplicate_nothing(tmp_path, postgres):
    design = load_study.saturating_design(PARTICIPANTS)
    load_study.make_study("rush", design)
    ledger = loadgen.Ledger()
    server = web_server.Gunicorn(web_server.production_env(postgres, tmp_path), tmp_path / "gunicorn.log")
    with server as target:
        phase = asyncio.run(loadgen.realistic(target, "rush", ledger, PARTICIPANTS, 0, 0, DUPLICATE))

    assert load_study.violations(["rush"], ledger) == []
    assert ledger.replays > 0  # the replay path was exercised
    # Just enough items for everyone: all finish, each item judged exactly K times per condition.
    assert Participant.objects.filter(status="completed").count() == PARTICIPANTS
    assert len(ledger.acks) == Response.objects.count() == PARTICIPANTS * design.per_participant
    assert phase.errors == [], server.log_tail()


def test_simultaneous_participants_on_the_embedded_sqlite_default_lose_and_duplicate_nothing(tmp_path):
    # The test database here is PostgreSQL in CI, so the SQLite file that gunicorn serves is
    # set up and checked by bench/load.py --sqlite in a process of its own.
    report_path = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    command = [sys.executable, "bench/load.py", "--sqlite", "--participants", str(PARTICIPANTS)]
    command += [
        "--trials",
        "10",
        "--think",
        "0",
        "--sqlite-duplicate",
        str(DUPLICATE),
        "--report",
        str(report_path),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert report_path.exists(), done.stdout + done.stderr
    report = json.loads(report_path.read_text())

    assert report["violations"] == []
    assert report["replays"] > 0
    assert report["completed"] == PARTICIPANTS
    assert report["acknowledged"] == report["stored"] == PARTICIPANTS * report["per_participant"]
    # Writers queue for SQLite's lock (IMMEDIATE transactions) instead of failing.
    assert report["errors"] == []
    assert done.returncode == 0, done.stdout + done.stderr
