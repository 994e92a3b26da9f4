"""Faults on real processes: the web server (gunicorn, run as in production) killed in the
middle of a participant's session, and PostgreSQL restarted under one. The participant's
client keeps its bearer token and resends an answer with the key it was first sent with,
as the trial runner does (static/js/trial/api.js); afterwards every trial has exactly one
answer, and the outage was answered with 503 + Retry-After, never a 500 page."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from django.db import InterfaceError, OperationalError, ProgrammingError, connection, connections, transaction

from studies.models import Participant, Response
from tests import factories
from tests.requirements import unavailable

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, failure: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


@dataclass
class Reply:
    status: int  # 0: no HTTP reply at all (refused, reset)
    headers: dict = field(default_factory=dict)
    text: str = ""

    def json(self):
        return json.loads(self.text)


class HttpParticipant:
    """A participant's browser over real HTTP: the bearer token it keeps; transient failures
    (no reply, 408, 429, 5xx) retried after max(back-off, Retry-After); every answer sent
    with the idempotency key it was first sent with."""

    def __init__(self, port: int, slug: str):
        self.port, self.slug, self.token = port, slug, None
        self.keys: dict[int, str] = {}  # trial id → idempotency key, as in sessionStorage
        self.transient: list[Reply] = []  # every failed attempt that was retried

    def call(self, method: str, path: str, body: dict | None = None) -> Reply:
        """One attempt, no retry."""
        # TLS ends at the reverse proxy in production, which says so (SECURE_PROXY_SSL_HEADER).
        headers = {"Accept": "application/json", "X-Forwarded-Proto": "https"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        link = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            link.request(method, path, None if body is None else json.dumps(body), headers)
            reply = link.getresponse()
            text = reply.read().decode()
            return Reply(reply.status, {k.lower(): v for k, v in reply.getheaders()}, text)
        except (OSError, http.client.HTTPException):
            return Reply(0)
        finally:
            link.close()

    def request(self, method: str, path: str, body: dict | None = None, seconds: float = 60) -> Reply:
        deadline = time.monotonic() + seconds
        attempt = 0
        while True:
            reply = self.call(method, path, body)
            if not (reply.status in (0, 408, 429) or reply.status >= 500):
                return reply
            self.transient.append(reply)
            assert time.monotonic() < deadline, f"{method} {path}: still {reply.status} after {seconds}s"
            # The browser's back-off starts at 0.5 s; shorter here to keep the tests quick.
            time.sleep(max(min(0.1 * 2**attempt, 2.0), float(reply.headers.get("retry-after", 0))))
            attempt += 1

    def api(self, method: str, path: str, body: dict | None = None, expect=(200,)) -> dict:
        reply = self.request(method, f"/api/v1/{path}", body)
        assert reply.status in expect, (method, path, reply.status, reply.text[:300])
        return reply.json()

    def enter(self) -> None:
        self.token = self.api("POST", f"studies/{self.slug}/sessions", {"params": {}}, expect=(201,))["token"]
        self.api("POST", "session/consent", {"version": 1, "agree": True})

    def next(self) -> dict | None:
        return self.api("GET", "session/next")["trial"]

    def answer_request(self, trial: dict) -> tuple[str, dict]:
        key = self.keys.setdefault(trial["id"], uuid.uuid4().hex)
        first = trial["options"][0]["id"]
        if trial["kind"] == "topk_select":
            answer = {"selected": [first]}
        else:
            answer = {"choice": first, "confidence": 4} if trial["confidence"] else {"choice": first}
        body = {"answer": answer, "rt_ms": 900, "client": {"dpr": 1}, "key": key}
        return f"/api/v1/session/trials/{trial['id']}/response", body

    def answer(self, trial: dict) -> int:
        """201 when this stored the answer, 200 when an earlier attempt already had."""
        reply = self.request("POST", *self.answer_request(trial))
        assert reply.status in (200, 201), (reply.status, reply.text[:300])
        return reply.status

    def finish(self) -> dict:
        while True:
            reply = self.api("GET", "session/next")
            if reply["trial"] is None:
                return reply["completion"]
            self.answer(reply["trial"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


class Gunicorn:
    """The web process as docker-compose.yml runs it, bound to a loopback port; kill() and
    start() keep the port, as a restarted container keeps its address."""

    def __init__(self, env: dict, port: int, log: Path):
        self.env, self.port, self.log, self.process = env, port, log, None

    def command(self) -> list[str]:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        command = compose["services"]["web"]["command"]
        assert command[0] == "gunicorn", command
        bind = command.index("--bind") + 1
        command = [*command[:bind], f"127.0.0.1:{self.port}", *command[bind + 1 :]]
        return [sys.executable, "-m", *command]

    def start(self) -> None:
        with self.log.open("a") as log:
            # Its own process group, so that kill() reaches the master and its workers.
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Any HTTP reply means a worker serves; without a token this one needs no database.
        probe = HttpParticipant(self.port, "")
        wait_until(
            lambda: probe.call("GET", "/api/v1/session").status or self.process.poll() is not None,
            f"gunicorn did not answer; see {self.log}",
        )
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once, like an out-of-memory kill."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        wait_until(lambda: refuses(self.port), "a gunicorn worker outlived the kill")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def study(tmp_path):
    return factories.study(tmp_path, n_images=6, per_participant=6)


@pytest.fixture
def web(postgres, tmp_path, settings):
    """gunicorn with the production settings on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "fault-test-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": postgres,
        # Production refuses to start without a broker; the participant API sends no task.
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SECONDLOOK_DATA_DIR": str(tmp_path),
        # gunicorn's control socket goes here, not to one path shared with every other gunicorn.
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    server = Gunicorn(env, free_port(), tmp_path / "gunicorn.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Cluster:
    """The local PostgreSQL cluster behind DATABASE_URL, through Debian's pg_ctlcluster."""

    def __init__(self, version: str, name: str, port: int):
        self.version, self.name, self.port = version, name, port

    def _ctl(self, *action: str) -> None:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, *action]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def ready(self) -> bool:
        command = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(command, timeout=10).returncode == 0

    def stop(self) -> None:
        # fast: ends every session at once, as a crash or failover does to the web process.
        self._ctl("stop", "-m", "fast")

    def ensure_running(self) -> None:
        if not self.ready():
            self._ctl("start")
            wait_until(self.ready, "PostgreSQL did not come back", seconds=60)


@pytest.fixture
def cluster(postgres):
    """The server that other connections share: a test that stops it starts it again in a
    `finally`, whatever else fails."""
    db = connection.settings_dict
    if db["HOST"] not in ("127.0.0.1", "localhost") or shutil.which("pg_ctlcluster") is None:
        unavailable("SECONDLOOK_REQUIRE_SERVICES", "no local PostgreSQL cluster to restart (pg_ctlcluster)")
    if os.geteuid() != 0:
        unavailable("SECONDLOOK_REQUIRE_SERVICES", "restarting PostgreSQL with pg_ctlcluster needs root")
    with connection.cursor() as cursor:
        cursor.execute("SHOW cluster_name")  # Debian names it "<version>/<name>"
        version, _, name = cursor.fetchone()[0].partition("/")
    if not name:
        unavailable("SECONDLOOK_REQUIRE_SERVICES", "the PostgreSQL cluster is not a Debian one")
    return Cluster(version, name, int(db["PORT"] or 5432))


def assert_each_trial_answered_once(client: HttpParticipant) -> None:
    participant = Participant.objects.get()
    trials = set(participant.trials.values_list("id", flat=True))
    answered = Counter(
        Response.objects.filter(trial__participant=participant).values_list("trial_id", flat=True)
    )
    assert answered == dict.fromkeys(trials, 1)
    stored_keys = dict(Response.objects.values_list("trial_id", "idempotency_key"))
    assert stored_keys == client.keys  # each one the client sent, none from elsewhere


def assert_clean_outage(reply: Reply) -> None:
    assert reply.status == 503, (reply.status, reply.text[:300])
    assert reply.headers["content-type"] == "application/json", reply.headers
    assert reply.json()["code"] == "database_unavailable"
    assert int(reply.headers["retry-after"]) > 0


def blocked_by_this_connection() -> bool:
    """Whether another backend waits for a lock this test's connection holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks"
            " WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_participant_resumes_after_gunicorn_is_killed_mid_answer(web, study):
    client = HttpParticipant(web.port, study.slug)
    client.enter()
    for _ in range(2):
        assert client.answer(client.next()) == 201
    shown = client.next()
    # Killed while a worker is inside the answer's transaction: the worker waits for the
    # participant's row, which this test holds locked.
    with ThreadPoolExecutor(1) as pool, transaction.atomic():
        Participant.objects.select_for_update().get()
        in_flight = pool.submit(client.call, "POST", *client.answer_request(shown))
        wait_until(blocked_by_this_connection, "the answer never reached the database")
        web.kill()
        assert in_flight.result(timeout=30).status == 0  # the connection dropped, no reply
    # The killed worker's transaction died with its connection: nothing half-stored.
    assert not Response.objects.filter(trial_id=shown["id"]).exists()

    web.start()
    assert client.next()["id"] == shown["id"]  # the same token, the same unanswered trial
    assert client.answer(shown) == 201  # resent with its first key
    assert client.finish()["outcome"] == "completed"
    assert_each_trial_answered_once(client)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_answers_sent_while_postgresql_restarts_are_stored_once(web, study, cluster):
    client = HttpParticipant(web.port, study.slug)
    client.enter()
    for _ in range(2):
        assert client.answer(client.next()) == 201
    shown = client.next()
    with ThreadPoolExecutor(1) as pool:
        try:
            cluster.stop()
            # Whatever a participant sends meets a clean, retryable refusal, not a 500 page.
            newcomer = HttpParticipant(web.port, study.slug)
            assert_clean_outage(
                newcomer.call("POST", f"/api/v1/studies/{study.slug}/sessions", {"params": {}})
            )
            assert_clean_outage(client.call("GET", "/api/v1/session/next"))
            assert_clean_outage(client.call("POST", *client.answer_request(shown)))
            page = client.call("GET", f"/s/{study.slug}/")
            assert page.status == 503 and int(page.headers["retry-after"]) > 0, page.status

            answering = pool.submit(client.answer, shown)
            wait_until(lambda: client.transient, "the retrying answer never met the outage")
        finally:
            # Also after a failed assertion: other tests and people share this server.
            cluster.ensure_running()
            # This process's connection died with the server; the next query opens a new one.
            connections.close_all()
        assert answering.result(timeout=60) == 201

    assert client.finish()["outcome"] == "completed"
    assert {reply.status for reply in client.transient} == {503}
    assert_each_trial_answered_once(client)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_the_api_answers_a_database_outage_with_503_and_retry_after(participant, monkeypatch, error):
    participant.enter()
    participant.consent()

    def outage(*args, **kwargs):
        raise error("server closed the connection unexpectedly")

    monkeypatch.setattr("studies.services.trials.next_trial", outage)
    reply = participant.next()
    assert reply.status_code == 503
    assert reply.json()["code"] == "database_unavailable"
    assert int(reply["Retry-After"]) > 0


def test_a_page_answers_a_database_outage_with_503_not_a_500_page(client, live_study, monkeypatch):
    def outage(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("studies.views.get_object_or_404", outage)
    reply = client.get(f"/s/{live_study.slug}/")
    assert reply.status_code == 503
    assert int(reply["Retry-After"]) > 0


def test_other_database_errors_are_not_mistaken_for_an_outage(participant, monkeypatch):
    participant.enter()
    participant.consent()

    def bug(*args, **kwargs):
        raise ProgrammingError('relation "studies_trial" does not exist')

    monkeypatch.setattr("studies.services.trials.next_trial", bug)
    with pytest.raises(ProgrammingError):
        participant.next()
