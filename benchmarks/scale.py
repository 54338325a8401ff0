"""Scale benchmark: the whole graph on synthetic universes of n = 35, 100, 250 and 500 assets.

For each n, a synthetic universe (``riskalloc.synthetic``, seed 0) is written to a temporary
folder and one child process, with its own DAGSTER_HOME and warehouse, runs ``main_job`` up
to the second-to-last trading day (ingest → features → forecaster → allocator → backtest →
reports) and then the nightly run the schedule requests for the last day. Per stage it
records wall seconds, CPU seconds and peak resident memory of the child and its worker
processes (sampled from /proc), per n the peak, and over n the log-log slope of each stage's
cost. ``--mode quick`` uses the smaller walk-forward windows of benchmarks/pipeline.py (the
JSON says which mode ran); ``--n-jobs 2`` lets the three heavy steps use both cores.
Prints a table and writes benchmarks/results/scale.json. The committed full run at 500:
``python benchmarks/scale.py --sizes 500 --mode full --n-jobs 2`` (~27 min), then ``--combine``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # the sibling benchmark modules, also when loaded by path

from process_sampler import RssSampler  # noqa: E402  (benchmarks/process_sampler.py)

OUT = HERE / "results" / "scale.json"
SIZES = (35, 100, 250, 500)
# asset -> stage of the graph; asset-check steps count towards the stage of their asset
STAGE_OF = {
    "prices": "ingest",
    "macro": "ingest",
    "features": "features",
    "macro_features": "features",
    "vol_forecaster": "forecaster",
    "vol_forecasts": "forecaster",
    "forecast_evaluation": "forecaster",
    "allocator_network": "allocator",
    "allocator_fold_models": "backtest",  # the walk-forward's per-fold networks
    "backtest": "backtest",
    "backtest_report": "backtest",
    "regime_report": "reports",
    "shap_report": "reports",
}
# what the learned allocator can train on: every risky asset alive on every decision day, from
# a year before the forecaster's first fold (2010-01-01) on; so no delistings or gaps here
PIPELINE_PROFILE = {"delist_share": 0.0, "gap_share": 0.0, "latest_inception": "2008-12-31"}
PARALLEL_OPS = ("vol_forecaster", "allocator_fold_models", "backtest")  # ops taking n_jobs
# ``--mode tiny``: the least walk-forward work that still trains every model once (the
# forecaster's warm-up and two yearly folds with 2 LSTM epochs, one quarter-year backtest fold, the
# least that leaves the allocator its 382 training days):
# for the largest n on a shared 2-core machine, where quick mode does not fit the time
TINY_CONFIG = {
    "vol_forecaster": {"start": "2021-01-01", "max_epochs": 2},
    "backtest": {"start": "2022-10-03", "ablations": False},
    "allocator_fold_models": {"start": "2022-10-03"},
    "shap_report": {"start": "2022-12-01", "nsamples": 20},
}
STAGES = ("ingest", "features", "forecaster", "allocator", "backtest", "reports", "nightly")


def stage_of(step: str) -> str:
    """The stage of a step key (an asset, or ``<asset>_<check>``); ``other`` if unknown."""
    if step in STAGE_OF:
        return STAGE_OF[step]
    owners = [a for a in STAGE_OF if step.startswith(a + "_")]
    return STAGE_OF[max(owners, key=len)] if owners else "other"


def step_windows(instance: Any, run_id: str) -> dict[str, tuple[float, float, bool]]:
    """Step key -> (start, end, succeeded) epoch seconds, from the run's event log."""
    starts: dict[str, float] = {}
    out: dict[str, tuple[float, float, bool]] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            t0 = starts.get(ev.step_key, entry.timestamp)
            out[ev.step_key] = (t0, entry.timestamp, ev.event_type_value == "STEP_SUCCESS")
    return out


def by_stage(windows: dict, sampler: RssSampler) -> dict[str, dict[str, float]]:
    """Seconds and peak RSS (GiB) per stage, summed/maxed over the stage's steps."""
    out: dict[str, dict[str, float]] = {}
    for step, (t0, t1, _ok) in windows.items():
        s = out.setdefault(stage_of(step), {"s": 0.0, "peak_rss_gib": 0.0})
        s["s"] += t1 - t0
        s["peak_rss_gib"] = max(s["peak_rss_gib"], sampler.peak(t0, t1) / 2**30)
    return {
        k: {"s": round(v["s"], 2), "peak_rss_gib": round(v["peak_rss_gib"], 3)}
        for k, v in out.items()
    }


def restage(rec: dict) -> dict:
    """Re-derive a record's per-stage seconds/peaks from its step times with today's STAGE_OF
    (steps the child did not know went to ``other``; their peak is that stage's peak)."""
    steps, peaks = rec.get("main_step_s"), rec.get("main_step_peak_gib", {})
    cpu = rec.get("main_step_cpu_s", {})
    if not steps:
        return rec
    old = rec.get("stages", {})
    out: dict[str, dict[str, float]] = {}
    for step, sec in steps.items():
        st = stage_of(step)
        peak = peaks.get(step, old.get(st, old.get("other", {})).get("peak_rss_gib", 0.0))
        cur = out.setdefault(st, {"s": 0.0, "peak_rss_gib": 0.0})
        cur["s"] = round(cur["s"] + sec, 2)
        cur["peak_rss_gib"] = max(cur["peak_rss_gib"], peak)
        if step in cpu:
            cur["cpu_s"] = round(cur.get("cpu_s", 0.0) + cpu[step], 2)
    if "nightly" in old:
        out["nightly"] = dict(old["nightly"])
        if rec.get("nightly_cpu_s") is not None:
            out["nightly"]["cpu_s"] = rec["nightly_cpu_s"]
    return {**rec, "stages": out}


def child(n: int, data: Path, home: Path, mode: str, n_jobs: int = 1) -> dict:
    """One n in this process: main_job to the second-to-last day, then the nightly run;
    ``n_jobs`` > 1 lets the forecaster's folds, the fold models and the backtest's strategies
    run in that many worker processes (their memory and CPU are measured with this one's)."""
    os.environ["RISKALLOC_DB"] = str(home / "warehouse" / "riskalloc.duckdb")
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    os.environ["RISKALLOC_SOURCE"] = "files"
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    import dagster as dg
    import pandas as pd
    import torch
    from pipeline import full_run_config, nightly_request  # benchmarks/pipeline.py

    from pipelines.definitions import defs

    torch.set_num_threads(1)
    source = {
        "source": "files",
        "universe_file": str(data / "universe.yaml"),
        "prices_path": str(data / "prices.parquet"),
        "macro_path": str(data / "macro.csv.gz"),
    }
    resources = {"source": {"config": source}}
    dates = sorted(pd.read_parquet(data / "prices.parquet", columns=["date"])["date"].unique())
    first_end, new_day = str(pd.Timestamp(dates[-2]).date()), str(pd.Timestamp(dates[-1]).date())

    main_job = defs.resolve_job_def("main_job")
    cfg = {**full_run_config(main_job, first_end, quick=mode == "quick"), "resources": resources}
    if mode == "tiny":  # only the ops this job has
        nodes = set(main_job.graph.node_names())
        cfg["ops"].update({k: {"config": v} for k, v in TINY_CONFIG.items() if k in nodes})
    if n_jobs != 1:
        for op in PARALLEL_OPS:
            old = cfg["ops"].get(op, {}).get("config", {})
            cfg["ops"][op] = {"config": {**old, "n_jobs": n_jobs}}
    dg.validate_run_config(main_job, cfg)
    instance = dg.DagsterInstance.ephemeral()
    with RssSampler() as sampler:
        main_t = [time.time()]
        t0 = time.perf_counter()
        full = main_job.execute_in_process(run_config=cfg, instance=instance, raise_on_error=False)
        main_s = time.perf_counter() - t0
        main_t.append(time.time())
        job, ncfg, partition = nightly_request(defs, new_day)
        ncfg = {**ncfg, "resources": resources}
        t0 = time.perf_counter()
        inc = job.execute_in_process(
            run_config=ncfg, instance=instance, partition_key=partition, raise_on_error=False
        )
        nightly_s = time.perf_counter() - t0
        main_t.append(time.time())
    main_w, inc_w = step_windows(instance, full.run_id), step_windows(instance, inc.run_id)
    stages = by_stage(main_w, sampler)
    nightly_peak = max((sampler.peak(a, b) for a, b, _ in inc_w.values()), default=0)
    stages["nightly"] = {"s": round(nightly_s, 2), "peak_rss_gib": round(nightly_peak / 2**30, 3)}
    return {
        "main_job_s": round(main_s, 1),
        "nightly_s": round(nightly_s, 1),
        "n_jobs": n_jobs,
        "peak_rss_gib": round(
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                max((r for _, r in sampler.samples), default=0),
            )
            / 2**30,
            3,
        ),
        "peak_pss_gib": round(max((r for _, r in sampler.pss), default=0) / 2**30, 3),
        "success": bool(full.success and inc.success),
        "failed_steps": sorted(k for k, (_, _, ok) in {**main_w, **inc_w}.items() if not ok),
        "nightly_job": job.name,
        "nightly_partition": partition,
        "stages": stages,
        "main_step_s": {k: round(b - a, 2) for k, (a, b, _) in main_w.items()},
        "main_job_cpu_s": round(sampler.cpu_between(main_t[0], main_t[1]), 1),
        "nightly_cpu_s": round(sampler.cpu_between(main_t[1], main_t[2]), 1),
        "main_step_cpu_s": {
            k: round(sampler.cpu_between(a, b), 2) for k, (a, b, _) in main_w.items()
        },
        "main_step_peak_gib": {
            k: round(sampler.peak(a, b) / 2**30, 3) for k, (a, b, _) in main_w.items()
        },
        "nightly_step_s": {k: round(b - a, 2) for k, (a, b, _) in inc_w.items()},
        "first_end": first_end,
        "new_day": new_day,
    }


def run_one(n: int, mode: str, seed: int, workdir: Path, log: Path | None, n_jobs: int = 1) -> dict:
    """Generate the universe, run the child for ``n``, add the parent-side measurements."""
    from riskalloc.synthetic import make_synthetic_universe

    data, home = workdir / f"data_{n}", workdir / f"home_{n}"
    t0 = time.perf_counter()
    make_synthetic_universe(n, seed=seed, **PIPELINE_PROFILE).write(data)
    gen_s = time.perf_counter() - t0
    out = workdir / f"child_{n}.json"
    cmd = [sys.executable, __file__, "--child", str(n), "--data", str(data), "--home", str(home)]
    cmd += ["--mode", mode, "--out", str(out), "--n-jobs", str(n_jobs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log or os.devnull, "a") as fh:
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    res = json.loads(out.read_text()) if out.exists() else {"success": False, "stages": {}}
    res.update(
        generate_s=round(gen_s, 1),
        child_wall_s=round(wall, 1),
        child_rc=proc.returncode,
        # RUSAGE_CHILDREN is the max over children so far: exact when this child set a new max
        peak_rss_gib_children=round(after / 2**20, 3) if after > before else None,
        load_avg_1m=[round(load0, 2), round(os.getloadavg()[0], 2)],
    )
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    return res


def exponents(per_n: dict[str, dict]) -> dict[str, float | None]:
    """Log-log slope of each stage's CPU seconds (and of main_job) over the n that succeeded.

    CPU seconds, not wall: on the shared machine a step's wall time is mostly its wait for a
    core, which changes with the other jobs, not with n (every step runs on one thread).
    """
    import numpy as np

    out: dict[str, float | None] = {}
    keys = [*STAGES, "main_job"]
    for stage in keys:
        pts = []
        for n, r in per_n.items():
            if stage == "main_job":
                s = r.get("main_job_cpu_s")
            else:
                s = r["stages"].get(stage, {}).get("cpu_s")
            if r.get("success") and s and s > 0:
                pts.append((int(n), float(s)))
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            out[stage] = round(float(np.polyfit(x, y, 1)[0]), 2)
        else:
            out[stage] = None
    return out


def nlogn_slope(sizes: list[int]) -> float:
    """The log-log slope n log n itself has over ``sizes``: the O(n log n) bound in slope terms."""
    import numpy as np

    x = np.log(np.asarray(sizes, float))
    return round(float(np.polyfit(x, x + np.log(x), 1)[0]), 2)


def extrapolate_full(per_n: dict[str, dict], full: dict[str, dict]) -> dict[str, Any]:
    """Full-mode main_job seconds per n, projected from full-mode runs at small n.

    Each stage's full-mode seconds at the reference n are scaled by that stage's quick-mode
    growth from the reference n (the quick windows are a fixed share of the full ones, so a
    stage's cost ratio full/quick is taken as independent of n). Labelled as extrapolated.
    """
    refs = [n for n, r in full.items() if r.get("success") and n in per_n]
    if not refs:
        return {}
    ref = max(refs, key=int)
    f_st, q_st = full[ref]["stages"], per_n[ref]["stages"]
    out: dict[str, Any] = {
        "method": f"full-mode stage seconds at n={ref} x quick-mode growth of that stage from "
        f"n={ref}; not measured",
        "reference_n": int(ref),
        "main_job_s": {},
    }
    for n, r in per_n.items():
        if not r.get("success"):
            continue
        total = 0.0
        for stage, v in f_st.items():
            if stage == "nightly":
                continue
            q0, q1 = q_st.get(stage, {}).get("s"), r["stages"].get(stage, {}).get("s")
            total += v["s"] * (q1 / q0 if q0 and q1 else 1.0)
        out["main_job_s"][n] = round(total, 0)
    return out


def targets(res: dict) -> dict[str, Any]:
    """The issue's targets at the largest n, each with the value it was judged on."""
    per_n = res["n"]
    big = max((n for n, r in per_n.items() if r.get("success")), key=int, default=None)
    if big is None:
        return {}
    r = per_n[big]
    bound = res["nlogn_slope"]
    worst = max(
        ((k, v) for k, v in res["exponent"].items() if v is not None and k != "main_job"),
        key=lambda kv: kv[1],
        default=(None, None),
    )
    full_runs = res.get("runs", {}).get("full", res.get("full_mode", {}))
    measured_full = full_runs.get(big, {}).get("main_job_s")
    main_s = measured_full or res.get("extrapolated_full", {}).get("main_job_s", {}).get(big)
    cpu = r.get("nightly_cpu_s")
    return {
        "n": int(big),
        "nightly_le_60s": {
            "wall_s": r["nightly_s"],
            "cpu_s": cpu,
            "load_avg_1m": r.get("load_avg_1m"),
            "pass_wall": r["nightly_s"] <= 60,
            "pass_cpu": None if cpu is None else cpu <= 60,  # single-threaded: wall on a free core
        },
        "peak_rss_le_8gib": {"value": r["peak_rss_gib"], "pass": r["peak_rss_gib"] <= 8},
        "no_stage_worse_than_nlogn": {
            "worst_stage": worst[0],
            "slope": worst[1],
            "nlogn_slope": bound,
            "pass": None if worst[1] is None or bound is None else worst[1] <= bound,
        },
        "full_main_job_le_30min": {
            "value_s": main_s,
            "measured": measured_full is not None,
            "pass": None if main_s is None else main_s <= 1800,
        },
    }


MODE_RANK = {"full": 0, "quick": 1, "tiny": 2}
# stages whose work the modes do not change (all history, same settings): fitted over every n
MODE_FREE = ("ingest", "features", "allocator", "nightly")


def combine(files: list[Path], full_ref: Path | None) -> dict[str, Any]:
    """One results record from runs in several modes (each file a scale JSON of one mode).

    ``n`` holds, per size, the run of the most complete mode; ``runs`` every run by mode;
    ``exponent`` the CPU slopes of the mode with the most sizes, over every size for the
    stages in ``MODE_FREE``. Extrapolations are labelled as such.
    """
    runs: dict[str, dict[str, dict]] = {}
    for f in files:
        for n, r in json.loads(f.read_text())["n"].items():
            runs.setdefault(r.get("mode", "full"), {})[n] = restage(r)
    per_n: dict[str, dict] = {}
    for mode in sorted(runs, key=MODE_RANK.get, reverse=True):
        per_n.update({n: {**r, "mode": mode} for n, r in runs[mode].items() if r.get("success")})
    per_n = dict(sorted(per_n.items(), key=lambda kv: int(kv[0])))
    main_mode = max(runs, key=lambda m: (len(runs[m]), -MODE_RANK[m]))
    by_mode = {m: exponents(rs) for m, rs in runs.items() if len(rs) >= 2}
    ex = dict(by_mode.get(main_mode, {}))
    across = exponents(per_n)  # every size, whatever its mode
    ex.update({k: across[k] for k in MODE_FREE})
    out: dict[str, Any] = {
        "n": per_n,
        "exponent": ex,
        "exponent_mode": main_mode,
        "exponent_by_mode": by_mode,
        "runs": runs,
    }
    # the slope between the two largest sizes of the main mode: a fit over all sizes can hide
    # a cost that only starts to grow past the fixed overheads of small n
    top = sorted((n for n, r in runs[main_mode].items() if r.get("success")), key=int)[-2:]
    if len(top) == 2:
        out[f"slope_{top[0]}_{top[1]}"] = exponents({n: runs[main_mode][n] for n in top})
    sizes = [int(n) for n, r in per_n.items() if r.get("success")]
    out["nlogn_slope"] = nlogn_slope(sizes) if len(sizes) >= 2 else None
    # the most complete mode's main_job at a size only a smaller mode reached: that size's run
    # scaled, stage by stage, by the complete/smaller ratio at a size both modes ran
    best = min(runs, key=MODE_RANK.get)
    proj: dict[str, Any] = {}
    for mode, rs in runs.items():
        if mode == best:
            continue
        both = [n for n in rs if n in runs[best] and rs[n].get("success")]
        if not both:
            continue
        ref = min(both, key=int)
        a, b = runs[best][ref]["stages"], rs[ref]["stages"]
        for n, r in rs.items():
            if n in runs[best] or not r.get("success"):
                continue
            cpu = sum(  # a MODE_FREE stage does the same work in both modes: ratio 1
                v.get("cpu_s", 0.0)
                * (1.0 if k in MODE_FREE else a.get(k, {}).get("cpu_s", 0.0) / v0)
                for k, v in r["stages"].items()
                if k != "nightly" and (v0 := b.get(k, {}).get("cpu_s"))
            )
            proj[n] = {
                "main_job_cpu_s": round(cpu, 0),
                "method": f"{mode} run at n={n}, each stage's CPU x ({best}/{mode}) of "
                f"that stage at n={ref}; extrapolated, not measured",
            }
    out[f"extrapolated_{best}"] = proj
    if full_ref is not None:
        ref = json.loads(full_ref.read_text())
        quick35 = runs.get(best, {}).get("35", {})
        if ref.get("full_run_s") and quick35.get("main_job_cpu_s"):
            ratio = ref["full_run_s"] / quick35["main_job_cpu_s"]
            base = {n: r["main_job_cpu_s"] for n, r in runs[best].items() if r.get("success")}
            base.update({n: p["main_job_cpu_s"] for n, p in proj.items()})
            out["extrapolated_full"] = {
                "main_job_s": {n: round(v * ratio, 0) for n, v in sorted(base.items())},
                "ratio_full_over_" + best: round(ratio, 2),
                "method": f"{best}-mode main_job CPU s x (full main_job on the 35 bundled "
                f"ETFs, {full_ref.name}: {ref['full_run_s']} s) / ({best} main_job CPU s "
                "at n=35); a rough extrapolation, not measured",
            }
    return out


def table(res: dict) -> str:
    """A Markdown table: per n the totals and each stage's seconds (peak GiB in the last column)."""
    nan = float("nan")
    head = ["n", "mode", "main_job CPU s (wall)", *[f"{s} CPU s" for s in STAGES[:-1]]]
    head += ["nightly CPU s (wall)", "peak RSS GiB"]
    lines = ["| " + " | ".join(head) + " |", "|---:|---|" + "---:|" * (len(head) - 2)]
    rows = [
        (n, {**r, "mode": m})
        for m, rs in sorted(res.get("runs", {}).items(), key=lambda kv: MODE_RANK[kv[0]])
        for n, r in sorted(rs.items(), key=lambda kv: int(kv[0]))
        if r.get("success")
    ] or list(res["n"].items())
    for n, r in rows:
        st = r.get("stages", {})
        cells = [n, r.get("mode", "?")]
        cells += [f"{r.get('main_job_cpu_s', nan):.0f} ({r.get('main_job_s', nan):.0f})"]
        cells += [f"{st.get(s, {}).get('cpu_s', nan):.1f}" for s in STAGES[:-1]]
        cells += [f"{r.get('nightly_cpu_s', nan):.1f} ({r.get('nightly_s', nan):.1f})"]
        cells += [f"{r.get('peak_rss_gib', 0):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    ex = res["exponent"]
    slopes = ["–" if ex.get(k) is None else f"{ex[k]:.2f}" for k in ["main_job", *STAGES]]
    lines.append("| slope | | " + " | ".join(slopes) + " | |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments; as parent run every n and write the JSON, as child run one n."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--mode", choices=("full", "quick", "tiny"), default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="worker processes for the forecaster, fold models and backtest (their n_jobs)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--log", type=Path, default=None, help="append the children's output here")
    ap.add_argument("--merge", action="store_true", help="keep other n already in --out")
    ap.add_argument(
        "--full-reference",
        type=Path,
        default=None,
        help="a scale JSON with full-mode runs at small n: recorded, and used to extrapolate",
    )
    ap.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        default=None,
        help="combine these scale JSONs (one mode each) into --out; runs nothing",
    )
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        res = child(args.child, args.data, args.home, args.mode, args.n_jobs)
        args.out.write_text(json.dumps(res, indent=2) + "\n")
        return

    sys.path.insert(0, str(HERE))
    from pipeline import cpu_name

    if args.combine:
        res = combine(args.combine, args.full_reference)
        res.update(
            seed=args.seed,
            universe_profile=PIPELINE_PROFILE,
            cpu=cpu_name(),
            cpu_count=os.cpu_count(),
            torch_threads=1,
            combined_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )
        res["targets"] = targets(res)
        print(table(res))
        print(json.dumps(res["targets"], indent=2))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")
        print(f"\nwrote {args.out}")
        return

    old = json.loads(args.out.read_text()) if args.merge and args.out.exists() else {}
    per_n: dict[str, dict] = dict(old.get("n", {}))
    work = Path(tempfile.mkdtemp(prefix="riskalloc-scale-"))
    try:
        for n in args.sizes:
            print(f"n={n} ({args.mode}) ...", flush=True)
            res = run_one(n, args.mode, args.seed, work, args.log, args.n_jobs)
            per_n[str(n)] = {"mode": args.mode, **res}
            r = per_n[str(n)]
            print(
                f"  main_job {r.get('main_job_s')} s, nightly {r.get('nightly_s')} s, "
                f"peak {r.get('peak_rss_gib')} GiB, ok={r.get('success')}",
                flush=True,
            )
            partial = {"n": dict(sorted(per_n.items(), key=lambda kv: int(kv[0])))}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({**old, **partial}, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    per_n = {n: restage(r) for n, r in sorted(per_n.items(), key=lambda kv: int(kv[0]))}
    full = dict(old.get("full_mode", {}))
    if args.full_reference is not None:
        ref = json.loads(args.full_reference.read_text())["n"]
        full.update({n: restage(r) for n, r in ref.items() if r.get("mode") == "full"})
    ok = [int(n) for n, r in per_n.items() if r.get("success")]
    res = {
        **old,
        "n": per_n,
        "exponent": exponents(per_n),
        "nlogn_slope": nlogn_slope(ok) if len(ok) >= 2 else None,
        "full_mode": full,
        "extrapolated_full": extrapolate_full(per_n, full),
        "seed": args.seed,
        "universe_profile": PIPELINE_PROFILE,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": 1,
        "machine_load_1m_at_end": round(os.getloadavg()[0], 2),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    res["targets"] = targets(res) if res["nlogn_slope"] is not None else {}
    print(table(res))
    print(json.dumps(res["targets"], indent=2))
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
