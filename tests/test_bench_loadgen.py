"""The load generator's simulated participants (bench/loadgen.py) behave as the benchmark
says: arrivals spread over the arrival window, each participant from an address of their
own. A generator that sent everyone at once measured a stampede instead of the realistic
run (which it did until arrivals were drawn from one seeded stream)."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench import loadgen

ARRIVAL_S = 1.0
PARTICIPANTS = 12


def run(coroutine):
    """In a thread of its own: in a full run, the browser tests' Playwright keeps an event
    loop running in the main thread, and asyncio.run refuses to start under it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_participants_arrive_spread_over_the_window_each_from_their_own_address(monkeypatch):
    arrivals = []

    async def no_server(target, method, path, body=None, token=None, address=""):
        arrivals.append((time.perf_counter(), address))
        return 503, None  # the participant gives up after its retries: only arrivals matter

    monkeypatch.setattr(loadgen, "exchange", no_server)
    monkeypatch.setattr(loadgen, "RETRIES", 0)
    started = time.perf_counter()
    run(loadgen.realistic(loadgen.Target("127.0.0.1", 9), "x", loadgen.Ledger(), PARTICIPANTS, ARRIVAL_S, 0))

    times = sorted(at - started for at, _ in arrivals)
    assert len(times) == PARTICIPANTS
    assert times[0] < ARRIVAL_S / 2 < times[-1] <= ARRIVAL_S + 0.2
    assert len({round(at, 3) for at in times}) == PARTICIPANTS  # no two at the same instant
    assert len({address for _, address in arrivals}) == PARTICIPANTS


def test_in_the_closed_loop_each_prepared_session_comes_from_its_own_address(monkeypatch):
    """One address for every session a simulated user works through would run into the
    per-address rate limit that separate participants never meet."""
    addresses = {}

    async def finished_sessions(target, method, path, body=None, token=None, address=""):
        addresses.setdefault(token, set()).add(address)
        await asyncio.sleep(0.001)  # about 50 sessions in the window: fewer than prepared
        return 200, {"trial": None, "progress": {"done": 1, "total": 1}}

    monkeypatch.setattr(loadgen, "exchange", finished_sessions)
    tokens = [f"token-{n}" for n in range(200)]
    run(
        loadgen.closed_loop(
            loadgen.Target("127.0.0.1", 9), "x", loadgen.Ledger(), 1, 0.05, list(tokens), warmup_s=0
        )
    )

    used = [token for token in tokens if token in addresses]
    assert len(used) >= 2  # the user went through several sessions in the window
    assert all(len(addresses[token]) == 1 for token in used)
    assert len({next(iter(addresses[token])) for token in used}) == len(used)
