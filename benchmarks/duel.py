"""Side-by-side measurement the way an outside reviewer takes it.

Every call is a fresh process pinned to the same CPUs (taskset) with as many threads as CPUs on both
sides (torch.set_num_threads; XLA sizes its intra-op pool by the CPU affinity). Each process
imports, loads, makes a first call (jax compiles) and one timed call; the processes alternate
between the sides (R C C R R C ... for two sides), so a load spike or a warm page cache falls on
both. Times and peaks are medians over all processes, with their spread (min–max).

run_all sets JAX_PLATFORMS=cpu for its processes: this environment holds libtpu (the test extra compiles
TPU programs), which jax otherwise loads and probes at start-up, ~95 MiB more whole-process peak
(file pages) than a CPU install of skyreels-jax, which has no libtpu, would show.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
from pathlib import Path

from benchmarks.common import run_child


def alternating(sides: list[str], trials: int) -> list[str]:
    """sides in order on even trials and reversed on odd ones: R C C R R C for ("R", "C") and 3 trials."""
    return [s for t in range(trials) for s in (sides if t % 2 == 0 else sides[::-1])]


def duel(commands: dict[str, tuple], trials: int, cpus: str, env: dict[str, dict] | None = None) -> dict[str, list]:
    """{side: [record per process]} for commands {side: (module, *args)}, run alternately, one call per process."""
    records = {side: [] for side in commands}
    for side in alternating(list(commands), trials):
        records[side].append(run_child(*commands[side], env=(env or {}).get(side), cpus=cpus))
    return records


def median(records: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in records)


def spread(records: list[dict], key: str, fmt: str = ".2f") -> str:
    """'median (min–max)' of one field over the processes."""
    values = [r[key] for r in records]
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def all_cpus() -> str:
    return ",".join(map(str, sorted(os.sched_getaffinity(0))))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_line(cpus: str) -> str:
    """Date, CPU model, cores, the pinned CPUs and threads, the load average: printed with every table."""
    import importlib.metadata as md

    versions = ", ".join(f"{p} {md.version(p)}" for p in ("jax", "torch", "diffusers"))
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_model()}, {os.cpu_count()} "
            f"cores; both sides pinned to CPUs {cpus} with {len(cpus.split(','))} threads; {versions}; "
            f"load average (1/5/15 min) {load}")
