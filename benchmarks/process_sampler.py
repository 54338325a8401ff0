"""Memory and CPU of a process and everything it started, sampled from /proc (Linux).

The scale benchmark runs each pipeline in a child process whose steps may start joblib
workers; what a step costs is the sum over that whole process tree, not the child alone.
"""

from __future__ import annotations

import os
import threading
import time


class RssSampler:
    """Samples the resident memory and CPU seconds of this process *and its descendants*
    (joblib's worker processes with ``--n-jobs``) every ``every`` s (daemon thread).

    Memory is the sum of the processes' RSS, an upper bound (pages that two of them map, like
    memory-mapped arrays, count twice); ``pss`` keeps the sum of their proportional set sizes
    (shared pages split between the processes), what the machine really had to hold. CPU
    seconds (all threads, user + system; live descendants from /proc, finished ones from the
    kernel's reaped-children count) show a stage's cost without the time it waited for a core.
    """

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.pss: list[tuple[float, int]] = []
        self.cpu: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _descendants(self) -> list[int]:
        """Pids of every live process below this one (from /proc/*/stat parent ids)."""
        parent: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as fh:
                        parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        out, frontier = [], [os.getpid()]
        while frontier:
            kids = [p for p, pp in parent.items() if pp in frontier]
            out += kids
            frontier = kids
        return out

    def _proc(self, pid: int | str) -> tuple[int, int, float]:
        """(RSS bytes, PSS bytes, CPU seconds) of one process; zeros once it has gone."""
        try:
            with open(f"/proc/{pid}/statm") as fh:
                rss = int(fh.read().split()[1]) * self._page
            pss = rss
            try:
                with open(f"/proc/{pid}/smaps_rollup") as fh:
                    for line in fh:
                        if line.startswith("Pss:"):
                            pss = int(line.split()[1]) * 1024
                            break
            except OSError:
                pass
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            return rss, pss, (int(f[11]) + int(f[12])) / self._tick
        except (OSError, IndexError, ValueError):
            return 0, 0, 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            now, t = time.time(), os.times()
            self_rss, self_pss, _ = self._proc("self")
            kids = [self._proc(p) for p in self._descendants()]
            self.samples.append((now, self_rss + sum(k[0] for k in kids)))
            self.pss.append((now, self_pss + sum(k[1] for k in kids)))
            reaped = t.children_user + t.children_system
            self.cpu.append((now, t.user + t.system + reaped + sum(k[2] for k in kids)))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_between(self, t0: float, t1: float) -> float:
        """CPU seconds spent between ``t0`` and ``t1`` (nearest samples, 0.1 s resolution)."""
        if not self.cpu:
            return 0.0
        near = [min(self.cpu, key=lambda s: abs(s[0] - t))[1] for t in (t0, t1)]
        return max(0.0, near[1] - near[0])

    def peak(self, t0: float, t1: float, which: str = "rss") -> int:
        """Highest sample in ``[t0, t1]`` (the nearest sample if none fell inside)."""
        samples = self.samples if which == "rss" else self.pss
        inside = [r for t, r in samples if t0 <= t <= t1]
        if inside:
            return max(inside)
        return min(samples, key=lambda s: abs(s[0] - t0))[1] if samples else 0
