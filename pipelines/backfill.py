"""A local backfill: each partition of a job as its own Dagster run, a few runs at a time.

``python -m pipelines.backfill -j grid_job [--max-concurrent 2] [--partitions a,b]`` is what
``make backtest-grid`` runs. Every partition is a run recorded in the Dagster instance
(``$DAGSTER_HOME``), executed by ``execute_job`` in one of ``--max-concurrent`` worker
processes (so that many cores), with the job's own executor (``RISKALLOC_EXECUTOR``). On a
cluster the same partitions are a ``dagster job backfill -j grid_job --all`` under the run
coordinator's limits (``deploy/``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.instance.ref import InstanceRef

log = logging.getLogger(__name__)

DEFAULT_MODULE = "pipelines.definitions"


@dataclass(frozen=True)
class PartitionRun:
    """The outcome of one partition's run."""

    partition: str
    run_id: str
    success: bool
    wall_s: float = 0.0  # the run, in its worker
    cpu_s: float = 0.0  # CPU time of the worker process over the run (all its threads)


def reconstructable_job(job_name: str, module: str = DEFAULT_MODULE, attr: str = "defs"):
    """The job ``job_name`` of the ``Definitions`` named ``attr`` in ``module`` (a module name,
    or the path of a ``.py`` file), in a form a step process can load again."""
    workdir = None
    if module.endswith(".py"):  # import it by name from its folder (here and in step processes)
        path = Path(module).resolve()
        workdir, module = str(path.parent), path.stem
        if workdir not in sys.path:
            sys.path.insert(0, workdir)
    importlib.import_module(module)  # once, before any thread loads it
    repo = ReconstructableRepository.for_module(module, attr, working_directory=workdir)
    return repo.get_reconstructable_job(job_name)


def partition_keys(job_name: str, module: str = DEFAULT_MODULE, attr: str = "defs") -> list[str]:
    """Every partition key of the job, in order."""
    job = reconstructable_job(job_name, module, attr).get_definition()
    if job.partitions_def is None:
        raise ValueError(f"job {job_name!r} is not partitioned")
    return list(job.partitions_def.get_partition_keys())


def _run_partition(
    job_name: str, module: str, attr: str, instance_ref: InstanceRef, key: str
) -> PartitionRun:
    """One partition's run, in a worker process (Dagster's run setup is not thread-safe)."""
    job = reconstructable_job(job_name, module, attr)
    wall, cpu = time.perf_counter(), time.process_time()
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        res = dg.execute_job(job, instance, tags={"dagster/partition": key})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    log.info("%s partition %s: %s", job_name, key, "ok" if res.success else "FAILED")
    return PartitionRun(key, res.run_id, res.success, round(wall, 2), round(cpu, 2))


def backfill(
    job_name: str,
    keys: Sequence[str] | None = None,
    max_concurrent: int = 2,
    instance: dg.DagsterInstance | None = None,
    module: str = DEFAULT_MODULE,
    attr: str = "defs",
) -> list[PartitionRun]:
    """Run each partition of ``job_name`` (all by default) as its own run, ``max_concurrent``
    runs at a time in worker processes (each loads the code once); the runs in key order."""
    keys = partition_keys(job_name, module, attr) if keys is None else list(keys)
    instance = instance or dg.DagsterInstance.get()
    ref = instance.get_ref()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, max_concurrent), mp_context=spawn) as pool:
        futures = [pool.submit(_run_partition, job_name, module, attr, ref, k) for k in keys]
        return [f.result() for f in futures]


def main(argv: list[str] | None = None) -> int:
    """Backfill a job's partitions from the command line; 0 when every run succeeded."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--job", required=True)
    ap.add_argument("-m", "--module", default=DEFAULT_MODULE)
    ap.add_argument("--max-concurrent", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--partitions", default="", help="comma-separated keys (default: all)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keys = [k for k in args.partitions.split(",") if k] or None
    runs = backfill(args.job, keys, args.max_concurrent, module=args.module)
    failed = [r.partition for r in runs if not r.success]
    print(f"{args.job}: {len(runs) - len(failed)}/{len(runs)} partitions succeeded")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
