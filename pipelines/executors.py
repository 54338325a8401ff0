"""The jobs' executor, chosen by the environment: in-process, multiprocess, Kubernetes or Celery.

``RISKALLOC_EXECUTOR`` picks it (default ``in_process``: on a 2-core box the main graph's steps
are CPU-bound and each subprocess pays ~10 s of imports):

- ``in_process``: every step in the run's process (``make run``);
- ``multiprocess``: each step in its own process, at most ``RISKALLOC_MAX_CONCURRENT`` at once
  (default: the CPU count), Dagster's ``multiprocess_executor``;
- ``k8s``: each step in its own Kubernetes job (``dagster_k8s.k8s_job_executor``; needs the
  ``k8s`` extra, ``pip install -e .[pipelines,k8s]``, as the image in ``deploy/`` does);
- ``celery``: steps on Celery workers (``dagster_celery.celery_executor``; the ``celery``
  extra and a broker, ``RISKALLOC_CELERY_BROKER``).

A run can still override it in its run config (``execution: {config: ...}``) with the settings
of the chosen executor, e.g. ``max_concurrent``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

import dagster as dg

EXECUTOR_ENV = "RISKALLOC_EXECUTOR"
MAX_CONCURRENT_ENV = "RISKALLOC_MAX_CONCURRENT"
CELERY_BROKER_ENV = "RISKALLOC_CELERY_BROKER"
EXECUTORS: tuple[str, ...] = ("in_process", "multiprocess", "k8s", "celery")


def max_concurrent(env: Mapping[str, str] | None = None) -> int:
    """Steps at once for the multiprocess executor: ``RISKALLOC_MAX_CONCURRENT`` or the CPUs."""
    env = os.environ if env is None else env
    raw = env.get(MAX_CONCURRENT_ENV, "").strip()
    n = int(raw) if raw else (os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"{MAX_CONCURRENT_ENV}={raw!r}: at least one step must run")
    return n


def _cluster_executor(module: str, attr: str, extra: str) -> dg.ExecutorDefinition:
    """A cluster executor from its integration package, or an error saying what to install."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ImportError(
            f"{EXECUTOR_ENV}={extra} needs {module.replace('_', '-')}: "
            f"pip install -e '.[pipelines,{extra}]'"
        ) from exc


def executor_from_env(
    env: Mapping[str, str] | None = None, default: str = "in_process"
) -> dg.ExecutorDefinition:
    """The executor named by ``RISKALLOC_EXECUTOR`` (``default`` when unset), configured."""
    env = os.environ if env is None else env
    name = (env.get(EXECUTOR_ENV) or default).strip().lower().replace("-", "_")
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": max_concurrent(env)}, name="multiprocess"
        )
    if name == "k8s":
        return _cluster_executor("dagster_k8s", "k8s_job_executor", "k8s")
    if name == "celery":
        celery = _cluster_executor("dagster_celery", "celery_executor", "celery")
        broker = env.get(CELERY_BROKER_ENV)
        return celery.configured({"broker": broker}, name="celery") if broker else celery
    raise ValueError(f"{EXECUTOR_ENV}={name!r}: use one of {', '.join(EXECUTORS)}")
