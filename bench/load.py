"""The participant path under load, served by gunicorn + PostgreSQL started as production
runs them (config.wsgi, sync workers, production settings); the load generator
(bench/loadgen.py) runs in this process, apart from the server's.

Questions (benchmarks.md, "Participant path"):
1. Realistic run: N participants (default 200) arrive over 30 s; each reads the consent,
   agrees and does a 20-trial session, thinking an exponentially distributed time (mean
   2 s) between seeing a trial and answering it. Latency p50/p95/p99 of `next` and
   `response` (goal p99 < 250 ms at N = 200), answers per second, errors (goal 0).
2. Capacity run: closed loop without think time at concurrency 1, 20 and 100: loops
   (`next` + `response`) per second, and in the same run the requests per second of a
   trivial JSON endpoint behind the same middleware (the floor). Goals: loops/s ÷ floor
   requests/s >= 0.25 (a loop costs at most four trivial requests), and at least 5× Label
   Studio's loops/s measured the same way on this kind of machine (9.7 at 1, 15.9 at 20,
   11.7 at 100), with zero errors. Beside the floor, the same endpoint making one query
   (what a round trip to PostgreSQL adds), and before the runs the SQL statements a loop
   makes, counted in this process: the loop's cost in those terms.
3. Integrity after both runs, from the database: every answer the server acknowledged (201,
   or 200 for a replay) stored exactly once, nothing stored that was not acknowledged, and
   the design's invariants (balance across conditions, at most K judgments per item and
   condition, no image twice for a participant). Then the same check on the embedded SQLite
   default (config.settings.embedded, no DATABASE_URL) served by gunicorn, 20 participants
   answering at once; `--sqlite` runs only that part. Any violation exits non-zero.

Rates on a shared 2-core machine move with whatever else runs on it, so each capacity phase
also reads from /proc the CPU time the gunicorn workers, PostgreSQL's backends and this
process spent inside it: CPU per loop against CPU per trivial request is the same question
as the loops/floor ratio, less exposed to neighbours. `--profile` runs the workers under
cProfile (bench/load_urls.py) and prints where their time went. No trial of the realistic
run starts later than `--limit` s (90) after the last arrival: a healthy server lets every
participant finish well before, an overloaded one would stretch the run without end.

Needs PostgreSQL: DATABASE_URL names the server; the benchmark creates (and drops) its own
database `secondlook_load` there. Ends with `RESULT <name> <value> <unit>` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cpu, databases, load_study, loadgen, web_server  # noqa: E402

LOAD_DB = "secondlook_load"
# Label Studio 1.23's annotator loop (next task + create annotation) per second, measured
# on this kind of machine (benchmarks.md); the goal is five times these.
LABEL_STUDIO_LOOPS = {1: 9.7, 20: 15.9, 100: 11.7}
TRIVIAL = "/bench/trivial"
ONE_QUERY = "/bench/one-query"
# Loops a second that the sessions prepared before the first capacity phase must last for
# (1.5 × this; later phases use the fastest rate seen): above what this server reaches, so
# that no phase's CPU includes opening sessions.
FIRST_ESTIMATE = 200.0


def load_url() -> str:
    return databases.own_database_url(LOAD_DB, "bench/load.py (or --sqlite)")


def setup_django(data_dir: Path, database_url: str | None) -> None:
    """This process reads and writes the served database directly (the study before the
    runs, the integrity check after): the embedded settings on the same database."""
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.embedded",
        SECONDLOOK_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def close_connections() -> None:
    from django.db import connections

    connections.close_all()


def latency_lines(phase: loadgen.Phase, prefix: str) -> list[str]:
    lines = []
    for kind in ("next", "response"):
        for p in (50, 95, 99):
            lines.append(f"RESULT {prefix}_{kind}_p{p}_ms {phase.percentile_ms(kind, p):.1f} ms")
    return lines


def report_realistic(phase: loadgen.Phase) -> list[str]:
    seconds = phase.window[1] - phase.window[0]
    answers = len(phase.done)
    print(
        f"realistic: {answers} answers in {seconds:.0f} s ({answers / seconds:.1f}/s), "
        f"{phase.sessions_finished} sessions finished, {len(phase.errors)} errors"
    )
    for kind in ("session", "session_state", "consent", "next", "response"):
        print(
            f"  {kind:14} n={len(phase.latencies[kind]):5}  p50 {phase.percentile_ms(kind, 50):6.1f} ms  "
            f"p95 {phase.percentile_ms(kind, 95):6.1f} ms  p99 {phase.percentile_ms(kind, 99):6.1f} ms"
        )
    for error in phase.errors[:10]:
        print(f"  error: {error}")
    return [
        *latency_lines(phase, "load"),
        f"RESULT load_answers_per_s {answers / seconds:.1f} answers/s",
        f"RESULT load_errors {len(phase.errors)} errors",
        f"RESULT load_sessions_finished {phase.sessions_finished} sessions",
    ]


def statements_per_loop(slug: str) -> tuple[int, int]:
    """The SQL statements `next` and `response` make for one trial of a fresh session of
    `slug`, counted in this process through Django's test client (the same views; BEGIN and
    COMMIT are not counted, nor the connection check that each of gunicorn's requests adds
    with CONN_HEALTH_CHECKS, nor the PREPAREs that a connection runs once for each of the
    path's statements, studies/services/prepared_statements.py)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(REMOTE_ADDR="192.0.2.1")
    entry = client.post(f"/api/v1/studies/{slug}/sessions", {"params": {}}, content_type="application/json")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {entry.json()['token']}"}
    consent = client.get("/api/v1/session", **auth).json()["consent"]
    body = {"version": consent["version"], "agree": True}
    client.post("/api/v1/session/consent", body, content_type="application/json", **auth)
    with CaptureQueriesContext(connection) as on_next:
        trial = client.get("/api/v1/session/next", **auth).json()["trial"]
    answer, _ = loadgen.answer_for(trial, random.Random(0))
    body = {"answer": answer, "rt_ms": 900, "client": loadgen.CLIENT, "key": "statements-" + "0" * 16}
    path = f"/api/v1/session/trials/{trial['id']}/response"
    with CaptureQueriesContext(connection) as on_response:
        reply = client.post(path, body, content_type="application/json", **auth)
    if reply.status_code != 201:
        raise RuntimeError(f"counting statements: the answer got {reply.status_code} {reply.content[:200]}")
    return tuple(
        sum(not query["sql"].startswith("PREPARE ") for query in captured)
        for captured in (on_next, on_response)
    )


SERVER = ("gunicorn", "postgres")


def server_ms(phase: loadgen.Phase) -> float:
    """Server CPU (gunicorn's workers and PostgreSQL's backends) per completion, ms."""
    return sum(phase.cpu_ms_per_completion(group) for group in SERVER)


def cpu_lines(
    concurrency: int, loops: loadgen.Phase, trivial: loadgen.Phase, query: loadgen.Phase
) -> list[str]:
    """Where the CPU went, per loop and per trivial request: less exposed to other work on
    the machine than rates are. A loop's server CPU in trivial requests' worth is the CPU
    side of the loops/floor ratio (goal <= 4); a request that makes one query, in the same
    unit, is what each of the loop's round trips to PostgreSQL weighs against that goal."""
    per_loop = {group: loops.cpu_ms_per_completion(group) for group in loops.cpu}
    per_trivial = {group: trivial.cpu_ms_per_completion(group) for group in trivial.cpu}
    cost, query_cost = server_ms(loops) / server_ms(trivial), server_ms(query) / server_ms(trivial)
    print(
        "  CPU ms per loop: "
        + ", ".join(f"{group} {ms:.1f}" for group, ms in per_loop.items())
        + "; per trivial request: "
        + ", ".join(f"{group} {ms:.2f}" for group, ms in per_trivial.items())
        + f"; a loop costs {cost:.1f} trivial requests of server CPU, a request making one query"
        f" {query_cost:.1f}"
    )
    return [
        *(f"RESULT cpu_ms_per_loop_{group}_c{concurrency} {ms:.2f} ms" for group, ms in per_loop.items()),
        f"RESULT cpu_ms_per_trivial_gunicorn_c{concurrency} {per_trivial['gunicorn']:.2f} ms",
        f"RESULT loop_cpu_in_trivial_requests_c{concurrency} {cost:.2f} ratio",
        f"RESULT one_query_request_cpu_in_trivial_requests_c{concurrency} {query_cost:.2f} ratio",
    ]


async def capacity(target, slug, ledger, args, estimate: float, processes: cpu.Processes) -> list[str]:
    """Floor and loops at each concurrency, taking turns so that a noisy neighbour slows
    both alike. Sessions are opened (and consented) before each loop phase, outside it:
    enough for 1.5 × `estimate` loops a second, raised to the fastest rate seen."""
    lines, errors, seconds, trials = [], 0, args.seconds, args.trials
    for concurrency in args.concurrency:
        trivial = await loadgen.floor(target, TRIVIAL, concurrency, args.floor_seconds, processes)
        query = await loadgen.floor(target, ONE_QUERY, concurrency, args.floor_seconds, processes)
        needed = concurrency + math.ceil(1.5 * estimate * (seconds + 1) / trials)
        started = time.perf_counter()
        tokens, setup = await loadgen.open_sessions(target, slug, ledger, needed)
        print(f"  {len(tokens)} sessions prepared in {time.perf_counter() - started:.0f} s")
        loops = await loadgen.closed_loop(target, slug, ledger, concurrency, seconds, tokens, processes)
        estimate = max(estimate, loops.rate())
        errors += len(trivial.errors) + len(query.errors) + len(setup.errors) + len(loops.errors)
        ratio = loops.rate() / trivial.rate()
        anchor = loops.rate() / LABEL_STUDIO_LOOPS.get(concurrency, math.nan)
        rates = f"{loops.rate():6.1f} loops/s, floor {trivial.rate():6.1f} requests/s"
        print(f"concurrency {concurrency:3}: {rates}, ratio {ratio:.2f}, {anchor:.1f}x Label Studio")
        spread = ", ".join(
            f"{kind} {phase.percentile_ms(kind, 50):.0f}/{phase.percentile_ms(kind, 99):.0f}"
            for phase, kind in ((loops, "next"), (loops, "response"), (trivial, "trivial"))
        )
        print(
            f"  p50/p99 ms: {spread}; {len(loops.errors) + len(trivial.errors)} errors, "
            f"{loops.sessions_opened_inline} sessions opened inside the phase"
        )
        for error in (setup.errors + trivial.errors + loops.errors)[:5]:
            print(f"  error: {error}")
        lines += cpu_lines(concurrency, loops, trivial, query)
        lines += [
            f"RESULT capacity_loops_per_s_c{concurrency} {loops.rate():.1f} loops/s",
            f"RESULT floor_requests_per_s_c{concurrency} {trivial.rate():.1f} requests/s",
            f"RESULT loops_over_floor_c{concurrency} {ratio:.3f} ratio",
            f"RESULT loops_over_label_studio_c{concurrency} {anchor:.2f} ratio",
            f"RESULT capacity_response_p99_ms_c{concurrency} {loops.percentile_ms('response', 99):.1f} ms",
        ]
    lines.append(f"RESULT capacity_errors {errors} errors")
    return lines


def print_profile(files: list[Path]) -> None:
    """The workers' profiles together: where the server's time went, in the application's
    own code and in all code."""
    import pstats

    if not files:
        print("profile: no worker handled enough requests to write one")
        return
    stats = pstats.Stats(*map(str, files))
    stats.sort_stats("cumulative").print_stats(r"/(studies|config|bench)/", 30)
    stats.sort_stats("tottime").print_stats(25)


def postgres_run(args) -> int:
    url = load_url()
    databases.recreate_database(url)
    with tempfile.TemporaryDirectory(prefix="secondlook-load-") as tmp:
        data_dir = Path(tmp)
        setup_django(data_dir, url)
        design = load_study.saturating_design(args.participants, per_participant=args.trials, k=10)
        load_study.make_study("realistic", design)
        load_study.make_study(
            "capacity", load_study.Design(images=250, per_participant=args.trials, judgments_per_item=50)
        )
        load_study.make_study(
            "statements", load_study.Design(images=20, per_participant=10, judgments_per_item=5)
        )
        on_next, on_response = statements_per_loop("statements")
        print(f"statements per loop: next {on_next}, response {on_response} (BEGIN, COMMIT and checks aside)")
        close_connections()
        ledger, lines, estimate = loadgen.Ledger(), [], FIRST_ESTIMATE
        env = web_server.production_env(url, data_dir)
        if args.profile:
            env["SECONDLOOK_LOAD_PROFILE"] = str(data_dir)
        server = web_server.Gunicorn(env, data_dir / "gunicorn.log", args.workers)
        with server as target:
            print(f"gunicorn {' '.join(server.arguments)} on {target.host}:{target.port}")
            print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            if not args.skip_realistic:
                realistic = asyncio.run(
                    loadgen.realistic(
                        target,
                        "realistic",
                        ledger,
                        args.participants,
                        args.arrival,
                        args.think,
                        args.duplicate,
                        limit_s=args.arrival + args.limit,
                    )
                )
                lines += report_realistic(realistic)
                estimate = max(estimate, realistic.completed() / (realistic.window[1] - realistic.window[0]))
            if not args.skip_capacity:
                processes = {
                    "gunicorn": server.workers,
                    "postgres": lambda: cpu.postgres_backends(LOAD_DB),
                    "generator": lambda: [os.getpid()],
                }
                lines += asyncio.run(capacity(target, "capacity", ledger, args, estimate, processes))
            print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.profile:
            print_profile(sorted(data_dir.glob("*.prof")))
        problems = load_study.violations(["realistic", "capacity"], ledger)
        close_connections()
    databases.recreate_database(url, create=False)
    print(
        f"integrity (PostgreSQL): {len(ledger.acks)} answers acknowledged ({ledger.replays} replays), "
        f"{len(problems)} violations"
    )
    for problem in problems[:20]:
        print(f"  VIOLATION {problem}")
    for line in [*lines, f"RESULT statements_per_loop {on_next + on_response} statements"]:
        print(line)
    print(f"RESULT integrity_violations_postgres {len(problems)} violations")
    sys.stdout.flush()
    if not args.sqlite_participants:
        return 1 if problems else 0
    command = [sys.executable, __file__, "--sqlite", "--participants", str(args.sqlite_participants)]
    sqlite = subprocess.run(command + ["--trials", str(args.trials)])
    return 1 if problems or sqlite.returncode else 0


def sqlite_run(args) -> int:
    """The integrity check on the embedded default: SQLite (WAL, IMMEDIATE transactions)
    under gunicorn with config.settings.embedded, every participant arriving at once."""
    with tempfile.TemporaryDirectory(prefix="secondlook-load-sqlite-") as tmp:
        data_dir = Path(tmp)
        setup_django(data_dir, None)
        design = load_study.saturating_design(args.participants, per_participant=args.trials)
        load_study.make_study("sqlite", design)
        close_connections()
        ledger = loadgen.Ledger()
        env = web_server.server_env("config.settings.embedded", data_dir)
        with web_server.Gunicorn(env, data_dir / "gunicorn.log", args.workers) as target:
            start = time.perf_counter()
            phase = asyncio.run(
                loadgen.realistic(
                    target, "sqlite", ledger, args.participants, 0, args.think, args.sqlite_duplicate
                )
            )
            seconds = time.perf_counter() - start
        problems = load_study.violations(["sqlite"], ledger)
        from studies.models import Participant, Response

        report = {
            "violations": problems,
            "errors": phase.errors,
            "acknowledged": len(ledger.acks),
            "replays": ledger.replays,
            "stored": Response.objects.count(),
            "completed": Participant.objects.filter(status="completed").count(),
            "per_participant": design.per_participant,
        }
        close_connections()
    print(
        f"integrity (SQLite, {args.participants} at once): {len(phase.done)} answers in {seconds:.1f} s, "
        f"{report['acknowledged']} acknowledged ({ledger.replays} replays), {report['stored']} stored, "
        f"{report['completed']} completed, {len(phase.errors)} errors, {len(problems)} violations"
    )
    for line in (phase.errors[:10], problems[:20]):
        for text in line:
            print(f"  {text}")
    print(f"RESULT sqlite_answers_per_s {len(phase.done) / seconds:.1f} answers/s")
    print(f"RESULT sqlite_errors {len(phase.errors)} errors")
    print(f"RESULT integrity_violations_sqlite {len(problems)} violations")
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1))
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=None, help="200 (PostgreSQL), 20 (--sqlite)")
    parser.add_argument("--arrival", type=float, default=30.0, help="seconds over which they arrive")
    parser.add_argument("--think", type=float, default=None, help="mean think time, s (2; 0 with --sqlite)")
    parser.add_argument(
        "--limit", type=float, default=90.0, help="no trial starts this many s after the last arrival"
    )
    parser.add_argument("--trials", type=int, default=20, help="trials per session")
    parser.add_argument("--duplicate", type=float, default=0.02, help="share of answers sent twice at once")
    parser.add_argument("--seconds", type=float, default=15.0, help="each capacity phase")
    parser.add_argument("--floor-seconds", type=float, default=5.0, help="each floor phase")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: docker-compose.yml's)")
    parser.add_argument(
        "--concurrency",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        default=(1, 20, 100),
        help="closed-loop concurrencies (default 1,20,100)",
    )
    parser.add_argument("--skip-realistic", action="store_true")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the gunicorn workers (cProfile) and print where time went",
    )
    parser.add_argument("--sqlite", action="store_true", help="only the SQLite integrity check")
    parser.add_argument("--sqlite-participants", type=int, default=20, help="0: no SQLite check")
    parser.add_argument("--sqlite-duplicate", type=float, default=0.2)
    parser.add_argument("--report", help="with --sqlite: write the integrity report here (JSON)")
    args = parser.parse_args()
    if args.sqlite:
        args.participants = args.participants or args.sqlite_participants
        args.think = args.think or 0.0
        sys.exit(sqlite_run(args))
    args.participants = args.participants or 200
    args.think = 2.0 if args.think is None else args.think
    sys.exit(postgres_run(args))


if __name__ == "__main__":
    main()
