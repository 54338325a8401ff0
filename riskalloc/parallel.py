"""The one way riskalloc spreads independent work over cores: ``n_jobs``, as in scikit-learn.

Walk-forward folds, backtest strategies and GARCH fits are independent units, each seeded
and pinned to one torch thread, so running them in joblib's worker processes gives the same
numbers as running them one after another; only the wall time changes. ``n_jobs=1`` (the
default everywhere) runs in this process with no pool at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from riskalloc.errors import ConfigError

__all__ = ["effective_n_jobs", "parallel_map"]

T = TypeVar("T")
R = TypeVar("R")


def effective_n_jobs(n_jobs: int | None) -> int:
    """Workers that ``n_jobs`` means here: None or 1 is one, -1 every core, -2 all but one."""
    if n_jobs is None:
        return 1
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ConfigError(f"n_jobs={n_jobs!r}; use a positive number of workers, -1 for all cores")
    cores = os.cpu_count() or 1
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], n_jobs: int | None = 1) -> Iterator[R]:
    """``fn(x) for x in items``, in order, on ``n_jobs`` worker processes (joblib's loky).

    Results come back lazily and in the items' order, each as soon as it and those before it
    are done, so a caller can log or save a fold while later ones still run. ``fn`` and the
    items must pickle (closures are fine: loky uses cloudpickle); large NumPy arrays reach the
    workers memory-mapped rather than copied. A worker's exception is raised here.
    """
    todo = list(items)
    workers = min(effective_n_jobs(n_jobs), len(todo))
    if workers <= 1:
        return (fn(x) for x in todo)
    return _pooled(fn, todo, workers)


def _pooled(fn: Callable[[T], R], todo: list[T], workers: int) -> Iterator[R]:
    """The joblib run; its worker processes are shut down when the last result is in, so
    the memory they hold (their copies of the inputs) is given back before the caller's next
    step rather than after loky's idle timeout."""
    from joblib import Parallel, delayed  # scikit-learn's dependency; imported only when used
    from joblib.externals.loky import get_reusable_executor

    try:
        pool = Parallel(n_jobs=workers, backend="loky", return_as="generator")
        yield from pool(delayed(fn)(x) for x in todo)
    finally:
        get_reusable_executor().shutdown(wait=True)
