"""Simulated participants against a running server, shared by bench/load.py and
tests/integration/test_load_integrity.py.

A participant does over HTTP what the trial runner (static/js/trial) does through the
participant API (architecture.md §4): create a session, read the consent, agree, then
`next` and `response` until `next` says the session is over. Like api.js it retries
network failures and 5xx with back-off, re-sending an answer with the same idempotency
key, so an answer the server stored is acknowledged in the end; every failed attempt is
counted as an error. Some answers are sent twice at once (a double click, or a retry racing
the first try): the server must store one and acknowledge both with the same receipt.
Stimulus images are not fetched: the question is the participant API.

The generator is asyncio in one thread, with a connection per request (gunicorn's sync
workers close each connection after the response); it runs in a process of its own, never
the server's. Requests carry the headers of the TLS-terminating proxy production sits
behind (X-Forwarded-Proto, and X-Forwarded-For with an address of each participant's own,
trusted with NUM_PROXIES=1): the rate limits then count per participant as they would in
the field, not all participants as one address.

`Ledger` keeps what the server acknowledged and `violations` compares it with the database.
Django is imported only by the functions that touch the database (`make_study`,
`violations`), so the HTTP side runs without it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT_S = 20.0  # api.js's REQUEST_TIMEOUT_MS
RETRIES = 6
CLIENT = {"dpr": 1, "viewport": [1280, 800], "input": "mouse", "hidden_ms": 0}
_addresses = itertools.count(1)


def next_address() -> str:
    """A client address not used before in this process (10.0.0.0/8)."""
    n = next(_addresses)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def _dechunk(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


def _parse(raw: bytes) -> tuple[int, dict | None]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        return 0, None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = {"detail": body[:200].decode("utf-8", "replace")}
    return int(parts[1]), data


async def exchange(
    target: Target, method: str, path: str, body=None, token: str | None = None, address: str = "10.0.0.1"
):
    """One HTTP/1.1 request on a new connection, as the proxy forwards it for a client at
    `address`: (status, JSON body); status 0 when no reply came (refused, reset, timed out)."""
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.host}", "Connection: close"]
    lines += ["Accept: application/json", "X-Forwarded-Proto: https", f"X-Forwarded-For: {address}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]

    async def run() -> bytes:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
            return await reader.read()
        finally:
            writer.close()

    try:
        raw = await asyncio.wait_for(run(), REQUEST_TIMEOUT_S)
    except (OSError, TimeoutError):
        return 0, None
    return _parse(raw)


def transient(status: int) -> bool:
    """api.js's isTransient: worth trying again."""
    return status == 0 or status in (408, 429) or status >= 500


@dataclass
class Phase:
    """One part of a run: latencies (seconds) by request kind, errors, and when each
    completed loop (or trivial request) finished, on time.perf_counter's clock."""

    name: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)
    sessions_opened_inline: int = 0
    sessions_finished: int = 0
    # CPU seconds each group of processes (see cpu_during) used inside the window.
    cpu: dict[str, float] = field(default_factory=dict)

    def completed(self) -> int:
        start, end = self.window
        return sum(start <= t <= end for t in self.done)

    def percentile_ms(self, kind: str, p: float) -> float:
        """Nearest-rank percentile in milliseconds (nan when nothing was measured)."""
        values = sorted(self.latencies.get(kind, []))
        if not values:
            return math.nan
        return 1000 * values[max(0, math.ceil(p / 100 * len(values)) - 1)]

    def rate(self) -> float:
        """Completions per second inside the measurement window."""
        return self.completed() / (self.window[1] - self.window[0])

    def cpu_ms_per_completion(self, group: str) -> float:
        return 1000 * self.cpu[group] / self.completed() if self.completed() else math.nan


@dataclass
class Ack:
    key: str
    answer: dict
    receipt: dict
    created: int = 0  # how many times the server said 201 for this trial


@dataclass
class Ledger:
    """Every answer the server acknowledged (201, or 200 for a replay), by trial id, and
    contradictions seen on the wire (two 201s, receipts that differ)."""

    acks: dict[int, Ack] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    replays: int = 0

    def acknowledge(self, trial_id: int, key: str, answer: dict, status: int, receipt: dict) -> None:
        ack = self.acks.setdefault(trial_id, Ack(key, answer, receipt))
        if ack.key != key:
            self.problems.append(f"trial {trial_id}: acknowledged under two keys")
        if ack.receipt != receipt:
            self.problems.append(f"trial {trial_id}: receipts differ: {ack.receipt} and {receipt}")
        if status == 201:
            ack.created += 1
            if ack.created > 1:
                self.problems.append(f"trial {trial_id}: two submissions both answered 201 Created")
        else:
            self.replays += 1


class Client:
    """Requests of one simulated browser, recorded into a phase."""

    def __init__(self, target: Target, phase: Phase, ledger: Ledger, rng: random.Random):
        self.target, self.phase, self.ledger, self.rng = target, phase, ledger, rng
        self.address = next_address()

    async def call(self, kind: str, method: str, path: str, body=None, token: str | None = None):
        for attempt in range(RETRIES + 1):
            start = time.perf_counter()
            status, data = await exchange(self.target, method, path, body, token, self.address)
            if status:
                self.phase.latencies[kind].append(time.perf_counter() - start)
            if not transient(status):
                break
            self.phase.errors.append(f"{kind}: {status or 'no reply'} (attempt {attempt + 1})")
            # api.js's back-off: 0.5 s doubling to 8 s, with jitter.
            await asyncio.sleep(min(8.0, 0.5 * 2**attempt) * (0.8 + 0.4 * self.rng.random()))
        if not transient(status) and status not in (200, 201):
            self.phase.errors.append(f"{kind}: {status} {(data or {}).get('detail', '')}"[:300])
        return status, data


async def start_session(client: Client, slug: str) -> str | None:
    """Entry, consent text and consent: the token of a participant now judging, or None
    (study full, no work left, or an error, which the phase records). Each participant comes
    from an address of their own."""
    client.address = next_address()
    status, entry = await client.call("session", "POST", f"/api/v1/studies/{slug}/sessions", {"params": {}})
    if status not in (200, 201) or entry["state"] != "consent":
        return None
    token = entry["token"]
    status, state = await client.call("session_state", "GET", "/api/v1/session", token=token)
    if status != 200:
        return None
    body = {"version": state["consent"]["version"], "agree": True}
    status, reply = await client.call("consent", "POST", "/api/v1/session/consent", body, token)
    return token if status == 200 and reply["state"] == "trials" else None


def answer_for(trial: dict, rng: random.Random) -> tuple[dict, dict]:
    """A valid answer of the trial's kind, and the canonical form the server stores."""
    ids = [option["id"] for option in trial["options"]]
    if trial["kind"] == "topk_select":
        labels = [i for i in ids if i != "none"]  # task_kinds.NONE_OPTION excludes the others
        selected = ["none"] if rng.random() < 0.1 else rng.sample(labels, rng.randint(1, len(labels)))
        return {"selected": selected}, {"selected": sorted(selected, key=ids.index)}
    answer = {"choice": rng.choice(ids)}
    if trial.get("confidence"):
        answer["confidence"] = rng.randint(1, 5)
    return answer, answer


async def answer_trials(
    client: Client, token: str, think_mean_s: float, duplicate: float, deadline: float = math.inf
) -> bool:
    """`next` then `response` until the session ends (True) or the deadline passes or a
    request fails (False)."""
    rng = client.rng
    while time.perf_counter() < deadline:
        status, reply = await client.call("next", "GET", "/api/v1/session/next", token=token)
        if status != 200:
            return False
        trial = reply["trial"]
        if trial is None:
            return True
        think = rng.expovariate(1 / think_mean_s) if think_mean_s else 0.0
        if think:
            await asyncio.sleep(think)
        answer, canonical = answer_for(trial, rng)
        body = {"answer": answer, "rt_ms": round(think * 1000), "client": CLIENT, "key": uuid.uuid4().hex}
        path = f"/api/v1/session/trials/{trial['id']}/response"
        sends = 2 if rng.random() < duplicate else 1
        replies = await asyncio.gather(
            *(client.call("response", "POST", path, body, token) for _ in range(sends))
        )
        acknowledged = [(s, r) for s, r in replies if s in (200, 201)]
        for s, receipt in acknowledged:
            client.ledger.acknowledge(trial["id"], body["key"], canonical, s, receipt)
        if len(acknowledged) < sends:
            return False
        client.phase.done.append(time.perf_counter())
    return False


async def realistic(
    target: Target,
    slug: str,
    ledger: Ledger,
    participants: int,
    arrival_s: float,
    think_mean_s: float,
    duplicate: float = 0.0,
    seed: int = 0,
    limit_s: float = math.inf,
) -> Phase:
    """Participants arriving at uniformly random times over arrival_s, each doing a whole
    session with exponential think times between seeing a trial and answering it. None
    starts a trial after limit_s (an overloaded server would otherwise stretch the run
    without end); `sessions_finished` says how many got to the end."""
    phase = Phase("realistic")
    arrivals = sorted(random.Random(seed).uniform(0, arrival_s) for _ in range(participants))
    start = time.perf_counter()

    async def participant(n: int, at: float) -> None:
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        client = Client(target, phase, ledger, random.Random(f"{seed}-{n}"))
        token = await start_session(client, slug)
        if token and await answer_trials(client, token, think_mean_s, duplicate, start + limit_s):
            phase.sessions_finished += 1

    await asyncio.gather(*(participant(n, at) for n, at in enumerate(arrivals)))
    phase.window = (start, time.perf_counter())
    return phase


async def open_sessions(
    target: Target, slug: str, ledger: Ledger, count: int, concurrency: int = 10
) -> tuple[list[str], Phase]:
    """Tokens of up to `count` participants who consented (for a closed loop to use up),
    and the phase that recorded their requests."""
    phase = Phase("setup")
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> str | None:
        async with gate:
            return await start_session(Client(target, phase, ledger, random.Random(n)), slug)

    tokens = await asyncio.gather(*(one(n) for n in range(count)))
    return [t for t in tokens if t], phase


Processes = dict[str, Callable[[], list[int]]]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_scan: tuple[float, list] = (-1.0, [])


def _processes() -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, command line of PostgreSQL's processes) of every process, read
    from /proc at most every 50 ms: one scan serves every group of a sample."""
    global _scan
    if time.perf_counter() - _scan[0] < 0.05:
        return _scan[1]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, _, rest = (entry / "stat").read_text().rpartition(")")
                line = (entry / "cmdline").read_bytes() if name.endswith("(postgres") else b""
                found.append((int(entry.name), int(rest.split()[1]), line))
            except (OSError, IndexError):
                continue
    _scan = (time.perf_counter(), found)
    return found


def children(pid: int) -> list[int]:
    return [child for child, parent, _ in _processes() if parent == pid]


def postgres_backends(database: str) -> list[int]:
    """PostgreSQL's server processes for connections to `database`, found by the title
    PostgreSQL gives them ("postgres: 15/main: user database address state")."""
    marker = f" {database} ".encode()
    return [pid for pid, _, line in _processes() if line.startswith(b"postgres: ") and marker in line]


async def cpu_during(window: tuple[float, float], processes: Processes, every_s: float = 0.5):
    """CPU seconds each group of processes used inside the window (on perf_counter's
    clock). Sampled every `every_s`, so that a process ending meanwhile (a database
    connection closed past CONN_MAX_AGE) loses at most one interval of its time; one
    starting meanwhile counts from zero."""
    await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
    first: dict[str, dict[int, float]] = {group: {} for group in processes}
    last: dict[str, dict[int, float]] = {group: {} for group in processes}
    opening = True
    while True:
        for group, find in processes.items():
            for pid in find():
                used = cpu_seconds(pid)
                if used is not None:
                    first[group].setdefault(pid, used if opening else 0.0)
                    last[group][pid] = used
        if time.perf_counter() >= window[1]:
            break
        opening = False
        await asyncio.sleep(min(every_s, max(0.0, window[1] - time.perf_counter())))
    return {group: sum(last[group][pid] - first[group][pid] for pid in last[group]) for group in processes}


async def closed_loop(
    target: Target,
    slug: str,
    ledger: Ledger,
    concurrency: int,
    seconds: float,
    tokens: list[str],
    processes: Processes | None = None,
    warmup_s: float = 1.0,
) -> Phase:
    """`concurrency` users each answering as fast as the server replies, no think time,
    on the prepared sessions (a new one is opened, and counted, if they run out). Loops
    finishing in the `seconds` after the warm-up count, and the CPU time of `processes`
    in that time."""
    phase = Phase(f"loops@{concurrency}")
    pool = deque(tokens)
    start = time.perf_counter()
    phase.window = (start + warmup_s, start + warmup_s + seconds)

    async def user(n: int) -> None:
        client = Client(target, phase, ledger, random.Random(f"loop-{concurrency}-{n}"))
        while time.perf_counter() < phase.window[1]:
            if pool:
                token = pool.popleft()
            else:
                phase.sessions_opened_inline += 1
                token = await start_session(client, slug)
            finished = token is not None and await answer_trials(client, token, 0, 0, phase.window[1])
            if not finished and time.perf_counter() < phase.window[1]:
                return  # an error (recorded): this user stops rather than spin

    users = asyncio.gather(*(user(n) for n in range(concurrency)))
    phase.cpu = (await asyncio.gather(cpu_during(phase.window, processes or {}), users))[0]
    return phase


async def floor(
    target: Target,
    path: str,
    concurrency: int,
    seconds: float,
    processes: Processes | None = None,
    warmup_s: float = 1.0,
) -> Phase:
    """The same closed loop on a trivial endpoint: requests per second the stack serves
    when the view does nothing, and the CPU time of `processes` meanwhile."""
    phase = Phase(f"floor@{concurrency}")
    start = time.perf_counter()
    phase.window = (start + warmup_s, start + warmup_s + seconds)
    client = Client(target, phase, Ledger(), random.Random(0))

    async def user() -> None:
        while time.perf_counter() < phase.window[1]:
            status, _ = await client.call("trivial", "GET", path)
            if status != 200:
                return
            phase.done.append(time.perf_counter())

    users = asyncio.gather(*(user() for _ in range(concurrency)))
    phase.cpu = (await asyncio.gather(cpu_during(phase.window, processes or {}), users))[0]
    return phase


def web_command(workers: int | None = None) -> list[str]:
    """gunicorn's arguments in docker-compose.yml's web service, less its --bind (the caller
    binds); `workers` replaces its worker count."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    assert command[0] == "gunicorn", command
    arguments = list(command[1:])
    at = arguments.index("--bind")
    del arguments[at : at + 2]
    if workers is not None:
        arguments[arguments.index("--workers") + 1] = str(workers)
    return arguments


class Gunicorn:
    """gunicorn started as docker-compose.yml's web service starts it (web_command), on a
    loopback socket this process opens and hands over as fd:// (no race for a free port)."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int | None = None):
        self.env, self.log_path, self.arguments = env, log_path, web_command(workers)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(2048)  # gunicorn's default backlog
        port = listener.getsockname()[1]
        command = [sys.executable, "-m", "gunicorn", *self.arguments, "--bind", f"fd://{listener.fileno()}"]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=[listener.fileno()],
            )
        listener.close()
        target = Target("127.0.0.1", port)
        self._wait_until_serving(target)
        return target

    def _wait_until_serving(self, target: Target, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log_tail()}")
            # Any HTTP reply (401 without a token) means a worker serves requests.
            if asyncio.run(exchange(target, "GET", "/api/v1/session"))[0]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {seconds:.0f} s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(settings_module: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a gunicorn child gets: this one, less any service URL the mode
    should not see, plus the settings module, a data directory and `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        SECONDLOOK_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def production_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """Production settings (config.settings.production, with bench/load_urls.py's trivial
    endpoint added) as docker-compose.yml sets them, behind one trusted proxy (the requests
    carry its headers). The broker is required by the settings but never contacted on the
    participant path."""
    return server_env(
        "bench.load_settings",
        data_dir,
        SECRET_KEY=hashlib.sha256(os.urandom(32)).hexdigest(),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        NUM_PROXIES="1",
    )


@dataclass(frozen=True)
class Design:
    images: int
    per_participant: int
    judgments_per_item: int
    conditions: tuple[str, ...] = ("a", "b")


def saturating_design(participants: int, per_participant: int = 10, k: int = 2) -> Design:
    """Just enough items for `participants` split evenly over two conditions to judge each
    item exactly K times in each condition (given at least one session's worth of images):
    a race that overshoots K or unbalances the conditions leaves someone without work, or
    breaks the K check."""
    per_condition = math.ceil(participants / 2)
    return Design(max(per_participant, math.ceil(per_condition * per_participant / k)), per_participant, k)


def make_study(slug: str, design: Design):
    """A live top-k study on `design.images` image rows with fabricated top-5 predictions
    (the participant API reads neither image files nor a model), two conditions of equal
    weight and no quota, K judgments per item and condition."""
    from bench import databases
    from inference.labelsets import imagenet_1k
    from inference.models import Image, ImageSet, Prediction
    from studies.models import Condition, Study
    from studies.services import launch

    labels = imagenet_1k()
    image_set = ImageSet.objects.create(name=f"{slug}-images")
    classifier = databases.stand_in_classifier("load-bench")
    images = Image.objects.bulk_create(
        Image(
            sha256=hashlib.sha256(f"{slug}-{n}".encode()).hexdigest(),
            file="images/none.png",
            format="PNG",
            width=224,
            height=224,
            true_class=labels.class_ids[n % 1000],
            true_label=labels.names[n % 1000],
            original_name=f"load/{slug}/{n:05d}.png",
        )
        for n in range(design.images)
    )
    image_set.images.add(*images)
    Prediction.objects.bulk_create(
        Prediction(
            image=image,
            classifier=classifier,
            topk=[
                {
                    "rank": r + 1,
                    "index": c,
                    "class_id": labels.class_ids[c],
                    "label": labels.names[c],
                    "prob": 0.1,
                }
                for r, c in enumerate((n + 7 * j) % 1000 for j in range(5))
            ],
        )
        for n, image in enumerate(images)
    )
    study = Study.objects.create(
        slug=slug,
        title=slug,
        image_set=image_set,
        classifier=classifier,
        images_per_participant=design.per_participant,
        judgments_per_item=design.judgments_per_item,
        consent_text="You agree to take part.",
    )
    Condition.objects.bulk_create(Condition(study=study, name=name) for name in design.conditions)
    launch.launch(study)
    return study


def violations(slugs: list[str], ledger: Ledger) -> list[str]:
    """What the database says against the acknowledgements and the design, [] when all
    holds: every acknowledged answer stored once, with its key, receipt and answer; nothing
    stored that was not acknowledged; and each study's design invariants."""
    from django.db.models import Count

    from studies.models import Response, Study

    problems = list(ledger.problems)
    stored = Response.objects.filter(trial__participant__study__slug__in=slugs)
    twice = stored.values("trial_id").annotate(n=Count("id")).filter(n__gt=1)
    problems += [f"trial {row['trial_id']}: stored {row['n']} times" for row in twice]
    rows = {r["trial_id"]: r for r in stored.values("id", "trial_id", "idempotency_key", "answer", "receipt")}
    for trial_id, ack in ledger.acks.items():
        row = rows.get(trial_id)
        if row is None:
            problems.append(f"trial {trial_id}: acknowledged ({ack.receipt}) but not stored")
        elif (row["id"], row["idempotency_key"], row["answer"], row["receipt"]) != (
            ack.receipt["id"],
            ack.key,
            ack.answer,
            ack.receipt,
        ):
            problems.append(f"trial {trial_id}: stored {row} differs from the acknowledged {ack}")
    problems += [f"trial {t}: stored but never acknowledged" for t in rows.keys() - ledger.acks.keys()]
    for study in Study.objects.filter(slug__in=slugs).select_related("current_version"):
        problems += design_violations(study)
    return problems


def design_violations(study) -> list[str]:
    """Balance (no quota here: places per weight differ by at most one participant's
    share), at most K data trials per item and condition among place holders, no source
    image twice for one participant, and completed sessions fully answered."""
    from django.db.models import Count, Q

    from studies.models import Participant, Trial

    config = study.current_version.config
    problems = []
    # Place holders (allocation's invariants): valid participants who completed or are
    # judging. Nobody in these runs is idle past the session timeout.
    holders = Participant.objects.filter(
        study=study, kind="real", excluded=False, status__in=("completed", "active")
    ).exclude(condition="")
    held = Counter(holders.values_list("condition", flat=True))
    weights = {c["name"]: c["weight"] for c in config["conditions"] if c["weight"]}
    loads = {name: held[name] / weight for name, weight in weights.items()}
    if max(loads.values()) - min(loads.values()) > max(1 / w for w in weights.values()):
        problems.append(f"{study.slug}: conditions unbalanced: {dict(held)} for weights {weights}")
    main = Trial.objects.filter(role="main", participant__study=study)
    k = config["judgments_per_item"]
    if k:
        over = (
            main.filter(participant__in=holders)
            .values("participant__condition", "item_id")
            .annotate(n=Count("id"))
            .filter(n__gt=k)
        )
        problems += [f"{study.slug}: item judged more than K={k} times: {row}" for row in over]
    source = "item__image_id" if config.get("one_version_per_image", True) else "item_id"
    repeats = main.values("participant_id", source).annotate(n=Count("id")).filter(n__gt=1)
    problems += [f"{study.slug}: a participant got one image twice: {row}" for row in repeats]
    too_many = (
        main.values("participant_id").annotate(n=Count("id")).filter(n__gt=config["images_per_participant"])
    )
    problems += [f"{study.slug}: more trials than images_per_participant: {row}" for row in too_many]
    unfinished = Participant.objects.filter(study=study, status="completed").filter(
        Q(trials__response__isnull=True) & Q(trials__problem="")
    )
    problems += [f"{study.slug}: {p} completed with unanswered trials" for p in unfinished.distinct()]
    return problems
