"""The jobs' executor comes from RISKALLOC_EXECUTOR, in-process unless told otherwise."""

from __future__ import annotations

import importlib.util

import dagster as dg
import pytest

from pipelines.executors import executor_from_env, max_concurrent


def test_in_process_by_default_and_for_make_run():
    assert executor_from_env({}) is dg.in_process_executor
    assert executor_from_env({"RISKALLOC_EXECUTOR": "in-process"}) is dg.in_process_executor
    from pipelines.definitions import defs

    for name in ("main_job", "grid_job", "selection_job"):
        assert defs.resolve_job_def(name).executor_def.name == "in_process"


def test_multiprocess_takes_max_concurrent_from_env():
    ex = executor_from_env({"RISKALLOC_EXECUTOR": "multiprocess", "RISKALLOC_MAX_CONCURRENT": "3"})
    assert ex.name == "multiprocess"
    cfg = ex.config_schema.resolve_config({}).value["config"]  # the configured default
    assert cfg["max_concurrent"] == 3
    assert max_concurrent({}) >= 1
    with pytest.raises(ValueError, match="at least one"):
        max_concurrent({"RISKALLOC_MAX_CONCURRENT": "0"})


@pytest.mark.parametrize("name,module", [("k8s", "dagster_k8s"), ("celery", "dagster_celery")])
def test_cluster_executors_name_their_package(name, module):
    if importlib.util.find_spec(module) is not None:
        assert executor_from_env({"RISKALLOC_EXECUTOR": name}) is not None
        return
    with pytest.raises(ImportError, match=rf"\.\[pipelines,{name}\]"):
        executor_from_env({"RISKALLOC_EXECUTOR": name})


def test_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="in_process, multiprocess, k8s, celery"):
        executor_from_env({"RISKALLOC_EXECUTOR": "threads"})
