"""``parallel_map``: the loop's results, in order, on worker processes; bad ``n_jobs`` named."""

from __future__ import annotations

import os

import pytest

from riskalloc.errors import ConfigError, DataError
from riskalloc.parallel import effective_n_jobs, parallel_map


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise DataError(f"item {x} is bad")
    return x


def test_workers_return_the_loops_results_in_order_and_run_elsewhere() -> None:
    items = list(range(7))
    serial = list(parallel_map(_square_and_pid, items, 1))
    par = list(parallel_map(_square_and_pid, items, 2))
    assert [r for r, _ in par] == [r for r, _ in serial] == [x * x for x in items]
    assert {p for _, p in serial} == {os.getpid()}
    assert os.getpid() not in {p for _, p in par}  # the work really left this process


def test_a_workers_exception_reaches_the_caller() -> None:
    with pytest.raises(DataError, match="item 3"):
        list(parallel_map(_fail_on_three, range(5), 2))


@pytest.mark.parametrize("bad", [0, 1.5, True, "2"])
def test_bad_n_jobs_is_refused_with_its_value(bad) -> None:
    with pytest.raises(ConfigError, match="n_jobs"):
        effective_n_jobs(bad)


def test_n_jobs_meanings() -> None:
    cores = os.cpu_count() or 1
    assert effective_n_jobs(None) == 1 and effective_n_jobs(3) == 3
    assert effective_n_jobs(-1) == cores and effective_n_jobs(-2) == max(1, cores - 1)
