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

`Ledger` keeps what the server acknowledged; bench/load_study.py compares it with the
database. gunicorn is started by bench/web_server.py, CPU time read by bench/cpu.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import Processes, cpu_during

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
    rng = random.Random(seed)
    arrivals = sorted(rng.uniform(0, arrival_s) for _ in range(participants))
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
                client.address = next_address()  # each participant from an address of their own
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
