"""Benchmark timing: wall-clock and CPU medians, and log-log scaling slopes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Wall-clock median and minimum, and median process CPU time, all in milliseconds.

    On a loaded machine the wall median includes time spent waiting for a core; the CPU
    time (all threads of this process) does not, so it shows the load-free cost.
    """

    median: float
    min: float
    cpu: float


def timed(fn: Callable[[], object], repeats: int, warmup: int = 5) -> Timing:
    """Time ``fn`` ``repeats`` times after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Timing(
        float(np.median(wall)) * 1e3, float(np.min(wall)) * 1e3, float(np.median(cpu)) * 1e3
    )


def loglog_slope(sizes: list[int], ms: list[float]) -> float:
    """Least-squares slope of log(ms) on log(n)."""
    return float(np.polyfit(np.log(sizes), np.log(ms), 1)[0])
