"""Pipeline timings: a full ``main_job`` into a fresh warehouse, then one nightly incremental run.

The full run ingests the bundled sample up to its second-to-last trading day; the nightly run is
what the nightly schedule requests for the last day (ingest one new day, then every downstream
asset of the nightly job). Prints a table and writes benchmarks/results/pipeline.json.
``--quick`` shrinks the walk-forward configs (later forecaster start, one backtest year, fewer SHAP
samples) for a smoke run; the JSON says which mode was measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

OUT = Path(__file__).resolve().parent / "results" / "pipeline.json"
INGEST = ("prices", "macro")
# smaller walk-forward work for --quick; applied only to ops that exist in the job
QUICK_CONFIG = {
    "vol_forecaster": {"start": "2019-01-01"},
    "backtest": {"start": "2022-01-01", "ablations": False},
    "allocator_fold_models": {"start": "2022-01-01"},  # the backtest's folds: same window
    "shap_report": {"start": "2022-10-01", "nsamples": 50},
}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux) or platform, for the results file."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def step_seconds(result: Any) -> dict[str, float]:
    """Seconds per step of a finished in-process run, from its STEP_SUCCESS events."""
    out: dict[str, float] = {}
    for ev in result.all_events:
        if ev.event_type_value == "STEP_SUCCESS":
            out[ev.step_key] = round(ev.event_specific_data.duration_ms / 1000.0, 2)
    return out


def failed_steps(result: Any) -> list[str]:
    """Step keys that failed in a run."""
    return [ev.step_key for ev in result.all_events if ev.event_type_value == "STEP_FAILURE"]


def step_order(result: Any) -> list[str]:
    """Step keys in the order they started (shows whether downstream ran after upstream)."""
    return [ev.step_key for ev in result.all_events if ev.event_type_value == "STEP_START"]


def materialised(result: Any) -> list[str]:
    """Asset keys materialised by a run, sorted."""
    keys = {
        ev.asset_key.to_user_string()
        for ev in result.all_events
        if ev.event_type_value == "ASSET_MATERIALIZATION" and ev.asset_key is not None
    }
    return sorted(keys)


def full_run_config(job: Any, end: str, quick: bool) -> dict:
    """Ingest up to ``end`` (all history); with ``quick`` also the smaller walk-forward configs."""
    import dagster as dg

    nodes = set(job.graph.node_names())
    ops = {name: {"config": {"end": end, "incremental": True}} for name in INGEST if name in nodes}
    if quick:
        ops.update({k: {"config": v} for k, v in QUICK_CONFIG.items() if k in nodes})
    cfg = {"ops": ops}
    dg.validate_run_config(job, cfg)  # a renamed config field fails here, before any work
    return cfg


def nightly_request(defs: Any, day: str) -> tuple[Any, dict, str | None]:
    """The job, run config and partition the nightly schedule requests for ``day`` 18:30 NY.

    Without a nightly schedule: the ingest job (or main job) with ``end=day``.
    """
    import dagster as dg

    try:
        schedule = defs.resolve_schedule_def("nightly_schedule")
    except Exception:  # no schedule wired (yet): ingest the day with what exists
        schedule = None
    if schedule is None:
        name = "ingest_job" if _has_job(defs, "ingest_job") else "main_job"
        job = defs.resolve_job_def(name)
        return job, full_run_config(job, day, quick=False), None
    when = dt.datetime.fromisoformat(f"{day}T18:30").replace(tzinfo=ZoneInfo("America/New_York"))
    ctx = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    data = schedule.evaluate_tick(ctx)
    if not data.run_requests:
        raise SystemExit(f"nightly schedule skipped {day}: {data.skip_message}")
    [req] = data.run_requests
    return defs.resolve_job_def(schedule.job_name), dict(req.run_config), req.partition_key


def _has_job(defs: Any, name: str) -> bool:
    try:
        return defs.resolve_job_def(name) is not None
    except Exception:
        return False


def run(quick: bool, threads: int, root: Path, keep: bool) -> dict:
    """Both runs in a fresh warehouse under ``root``; returns the results record."""
    root.mkdir(parents=True, exist_ok=True)
    if (root / "warehouse").exists():
        raise SystemExit(f"{root}/warehouse exists: the benchmark needs a fresh warehouse")
    # the Definitions read these at import time: point them at the throwaway warehouse first
    os.environ["RISKALLOC_DB"] = str(root / "warehouse" / "riskalloc.duckdb")
    os.environ["RISKALLOC_SOURCE"] = "sample"
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir(exist_ok=True)

    import dagster as dg
    import torch

    from pipelines.definitions import defs
    from riskalloc.calendar import is_trading_day
    from riskalloc.market import MarketData

    torch.set_num_threads(threads)
    dates = [d for d in MarketData.sample().dates if is_trading_day(d)]
    first_end, new_day = str(dates[-2].date()), str(dates[-1].date())

    main_job = defs.resolve_job_def("main_job")
    instance = dg.DagsterInstance.ephemeral()
    t0 = time.perf_counter()
    full = main_job.execute_in_process(
        run_config=full_run_config(main_job, first_end, quick),
        instance=instance,
        raise_on_error=False,  # a failing step is reported in the results, with its time
    )
    full_s = time.perf_counter() - t0

    job, cfg, partition = nightly_request(defs, new_day)
    t0 = time.perf_counter()
    inc = job.execute_in_process(
        run_config=cfg, instance=instance, partition_key=partition, raise_on_error=False
    )
    inc_s = time.perf_counter() - t0
    return {
        "full_run_s": round(full_s, 1),
        "incremental_run_s": round(inc_s, 1),
        "success": bool(full.success and inc.success),
        "full_run_success": full.success,
        "full_failed_steps": failed_steps(full),
        "assets": materialised(full),
        "incremental_assets": materialised(inc),
        "incremental_job": job.name,
        "incremental_success": inc.success,
        "incremental_failed_steps": failed_steps(inc),
        "incremental_step_order": step_order(inc),
        "incremental_partition": partition,
        "first_end": first_end,
        "new_day": new_day,
        "full_step_s": step_seconds(full),
        "incremental_step_s": step_seconds(inc),
        "mode": "quick" if quick else "full",
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "dagster": dg.__version__,
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warehouse": os.environ["RISKALLOC_DB"] if keep else "(temporary, removed)",
    }


def print_table(res: dict) -> None:
    """A readable summary: the two totals, then the slowest steps of each run."""
    print(f"\npipeline benchmark ({res['mode']}, {res['threads']} torch threads, {res['cpu']})")
    print(f"{'run':<34}{'seconds':>10}")
    print(f"{'full main_job (to ' + res['first_end'] + ')':<34}{res['full_run_s']:>10.1f}")
    if not res["full_run_success"]:
        print(f"  full run FAILED at: {', '.join(res['full_failed_steps'])}")
    label = f"{res['incremental_job']} ({res['new_day']})"
    print(f"{label:<34}{res['incremental_run_s']:>10.1f}")
    if not res["incremental_success"]:
        print(f"  incremental run FAILED at: {', '.join(res['incremental_failed_steps'])}")
    for name in ("full_step_s", "incremental_step_s"):
        print(f"\n{name.replace('_step_s', '')} run, steps by time:")
        for step, secs in sorted(res[name].items(), key=lambda kv: -kv[1]):
            print(f"  {step:<40}{secs:>10.1f}")


def main() -> None:
    """Parse arguments, run, print, write JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller walk-forward configs")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the warehouse in this folder")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="riskalloc-bench-"))
    try:
        res = run(args.quick, args.threads, args.keep or tmp, keep=args.keep is not None)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    if not res["success"]:
        raise SystemExit("a pipeline run failed: see the failed steps above")


if __name__ == "__main__":
    main()
