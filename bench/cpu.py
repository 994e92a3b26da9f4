"""CPU time of processes from /proc (Linux): the gunicorn workers, PostgreSQL's backends and
the load generator, sampled during a benchmark phase."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

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
