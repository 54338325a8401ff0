"""The model-development protocol, in code: choose the allocator design on 2009-2016 only.

- **Data**: the market is cut at ``dev_end`` (2016-12-31) *before* anything else runs, so no
  candidate can read a later date (``tests/backtest/test_selection.py`` proves it: truncating
  the data there gives the same choice).
- **Folds**: yearly walk-forward over the development years. Learned parts are retrained at
  each fold start on data before it; each year's net-of-cost Sharpe is one fold score.
- **Search space**: :func:`search_space`, a declared grid of designs from the literature
  (risk parity, class budgets, a regularised learned tilt, time-series momentum, a volatility
  target relative to the universe, partial rebalancing). Learned designs run on ≥ 3 seeds;
  rule-based ones are seed-invariant and run once.
- **Score**: mean fold Sharpe − ``penalty`` · (standard error across folds + std across
  seeds). Candidates turning over more than ``max_turnover_ratio`` × ERC's are ineligible.
- **Gate** (third round): a candidate can replace ERC only if it beats ERC on the paired daily
  development returns after accounting for the whole search: Romano & Wolf's (2005) StepM
  at ``gate_alpha`` (``arch``), on returns scaled to ERC's volatility, so a lower mean loss is
  a higher Sharpe. The choice is the best-scoring eligible candidate in StepM's superior
  set; if that set is empty, the reference design (ERC itself). Hansen's (2005) SPA p-value
  of "no candidate beats ERC" is reported with it.
- **Units of work**: each (design, seed) is independent (:func:`evaluate_candidate`), so the
  selection runs on a process pool (:func:`run_selection`) or as the partitions of the Dagster
  ``model_selection`` asset (:func:`run_unit`, then :func:`merge_units`); both score with
  :func:`choose`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskalloc.allocate.design import AllocatorDesign
from riskalloc.allocate.designed import DesignedStrategy
from riskalloc.atomic import atomic_write_text
from riskalloc.backtest.baselines import make_baseline
from riskalloc.backtest.engine import simulate
from riskalloc.backtest.metrics import compute_metrics
from riskalloc.backtest.walkforward import run_walk_forward
from riskalloc.errors import ConfigError
from riskalloc.market import MarketData

log = logging.getLogger(__name__)

DEV_START = "2009-01-01"
DEV_END = "2016-12-31"
REFERENCES: tuple[str, ...] = ("erc", "inverse_vol", "equal_weight")
SELECTION_COLUMNS: tuple[str, ...] = (
    "candidate",
    "seed",
    "fold",
    "sharpe",
    "ann_return",
    "ann_vol",
    "max_drawdown",
    "turnover",
    "avg_exposure",
)
DAILY_COLUMNS: tuple[str, ...] = ("candidate", "seed", "date", "excess_return")
GATE_REFERENCE = "erc"  # the baseline a candidate must beat; AllocatorDesign() reproduces it


@dataclass(frozen=True)
class SelectionConfig:
    """How candidates are compared (the protocol's own settings, fixed before any run)."""

    dev_start: str = DEV_START
    dev_end: str = DEV_END
    cost_bps: float = 10.0
    rebalance: str = "weekly"
    seeds: tuple[int, ...] = (0, 1, 2)
    penalty: float = 1.0
    max_turnover_ratio: float = 2.0
    epochs: int = 20
    gate_alpha: float | None = 0.05
    gate_reps: int = 1000
    gate_seed: int = 0

    def __post_init__(self) -> None:
        if pd.Timestamp(self.dev_end) > pd.Timestamp(DEV_END):
            raise ConfigError(
                f"dev_end {self.dev_end} is after {DEV_END}: 2017 onwards is the final exam"
            )
        if len(self.seeds) < 1:
            raise ConfigError("the selection needs at least one seed")
        if self.gate_alpha is not None and not 0.0 < self.gate_alpha < 1.0:
            raise ConfigError(f"gate_alpha must be in (0, 1) or None, got {self.gate_alpha}")


def search_space() -> list[AllocatorDesign]:
    """The declared candidates (every one is run and reported, whatever its result)."""
    rule_based = [
        AllocatorDesign(
            budgets=budgets,
            vol_source=vol,
            trend_floor=trend,
            vol_target=target,
            rebalance_speed=speed,
        )
        for budgets in ("equal", "class_equal")
        for vol in ("sample", "blend")
        for trend in (1.0, 0.5, 0.0)
        for target in (None, 1.0)
        for speed in (1.0, 0.5)
    ]
    learned = [
        AllocatorDesign(
            budgets="learned_tilt",
            tilt_penalty=pen,
            vol_source="blend",
            trend_floor=trend,
            vol_target=1.0,
            rebalance_speed=0.5,
        )
        for pen in (1.0, 10.0)
        for trend in (1.0, 0.5)
    ]
    ensemble = [
        AllocatorDesign(
            budgets="learned_tilt",
            tilt_penalty=1.0,
            vol_source="blend",
            trend_floor=0.5,
            vol_target=1.0,
            rebalance_speed=0.5,
            ensemble=3,
        )
    ]
    # covariance inputs (added in a second round, 2026-12-04): correlation windows of half and
    # twice a year, and Ledoit-Wolf shrinkage to constant correlation, on the two best
    # rule-based structures of the first round (equal budgets, κ = 0.5)
    covariance = [
        AllocatorDesign(vol_source=vol, rebalance_speed=0.5, **inputs)
        for vol in ("sample", "blend")
        for inputs in ({"corr_window": 126}, {"corr_window": 504}, {"corr_shrink": "constant"})
    ]
    # third round (2026-12-04, declared after both out-of-sample runs, scored on 2009-2016
    # only, with the StepM gate): time-series momentum of asset-class aggregates, one slower
    # signal per class instead of one per asset
    class_trend = [
        AllocatorDesign(trend_floor=floor, trend_scope="class", rebalance_speed=speed)
        for floor in (0.5, 0.0)
        for speed in (1.0, 0.5)
    ]
    # fourth round (2026-12-04, declared after the third out-of-sample run, scored on 2009-2016
    # only, through the gate): the relative vol target allowed to lever, as risk parity is run
    # in practice; the loan pays rf + the engine's borrowing spread
    levered = [
        AllocatorDesign(vol_target=1.0, max_exposure=cap, rebalance_speed=speed)
        for cap in (1.5, 2.0)
        for speed in (1.0, 0.5)
    ]
    # fifth round (2026-12-04, declared after the third out-of-sample run, scored on 2009-2016
    # only, through the gate): ERC on the production forecaster's next-21-day vols (the
    # paper's premise: forecasts into the risk-budgeting layer), κ 1 and 0.5
    forecast = [
        AllocatorDesign(vol_source="forecast", rebalance_speed=speed) for speed in (1.0, 0.5)
    ]
    return rule_based + learned + ensemble + covariance + class_trend + levered + forecast


def fold_metrics(
    returns: pd.Series, rf: pd.Series, turnover: pd.Series, exposure: pd.Series
) -> pd.DataFrame:
    """One row of metrics per calendar year of a daily result (a fold)."""
    rows = []
    for year, idx in returns.groupby(returns.index.year).groups.items():
        m = compute_metrics(returns.loc[idx], rf.loc[idx], turnover.loc[idx], exposure.loc[idx])
        rows.append({"fold": int(year), **{k: m[k] for k in SELECTION_COLUMNS[3:]}})
    return pd.DataFrame(rows)


def _simulated(
    strategy: object, md: MarketData, cfg: SelectionConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    w = run_walk_forward(strategy, md, cfg.dev_start, cfg.dev_end, "yearly", cfg.rebalance)
    gross = getattr(strategy, "max_gross", 1.0)
    res = simulate(w, md, cfg.cost_bps, cfg.dev_start, cfg.dev_end, max_gross=gross)
    excess = (res.returns - res.rf).rename("excess_return").rename_axis("date").reset_index()
    return fold_metrics(res.returns, res.rf, res.turnover, res.exposure), excess


def selection_forecasts(
    md: MarketData, cfg: SelectionConfig, n_jobs: int | None = 1
) -> pd.DataFrame:
    """:func:`~riskalloc.backtest.headline.design_forecasts` on the development years, from
    the data cut at ``cfg.dev_end`` (what a ``vol_source="forecast"`` candidate reads)."""
    from riskalloc.backtest.headline import design_forecasts

    view = md.until(cfg.dev_end)
    return design_forecasts(view, cfg.dev_start, cfg.dev_end, n_jobs=n_jobs)


def evaluate_candidate(
    md: MarketData,
    design: AllocatorDesign,
    seed: int,
    cfg: SelectionConfig,
    vol_forecast: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold rows and daily net excess returns of one (design, seed): the independent unit of
    work of the selection. A forecast-vol design reads ``vol_forecast``
    (:func:`selection_forecasts`, computed here when not given)."""
    from riskalloc.allocate.dataset import build_allocator_data
    from riskalloc.allocate.train import TrainConfig

    md = md.until(cfg.dev_end)  # the guarantee: nothing after the development years
    forecasts = None
    if design.vol_source == "forecast":
        forecasts = selection_forecasts(md, cfg) if vol_forecast is None else vol_forecast
        forecasts = forecasts.loc[forecasts.index <= pd.Timestamp(cfg.dev_end)]
    strat = DesignedStrategy(
        design=design,
        seed=seed,
        train_cfg=TrainConfig(epochs=cfg.epochs, seed=seed),
        vol_forecast=forecasts,
        precomputed=build_allocator_data(md) if design.learned else None,
    )
    return _labelled(*_simulated(strat, md, cfg), design.key, seed)


def evaluate_reference(
    md: MarketData, name: str, cfg: SelectionConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold rows and daily excess returns of a baseline on the same folds (for eligibility,
    the gate and the report)."""
    return _labelled(*_simulated(make_baseline(name), md.until(cfg.dev_end), cfg), name, 0)


def _labelled(
    rows: pd.DataFrame, daily: pd.DataFrame, candidate: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = rows.assign(candidate=candidate, seed=seed).loc[:, list(SELECTION_COLUMNS)]
    return rows, daily.assign(candidate=candidate, seed=seed).loc[:, list(DAILY_COLUMNS)]


_WORKER_MD: MarketData | None = None


def _init_worker(md: MarketData) -> None:
    global _WORKER_MD
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _WORKER_MD = md


def _work(
    job: tuple[AllocatorDesign, int, SelectionConfig, pd.DataFrame | None],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    design, seed, cfg, forecasts = job
    assert _WORKER_MD is not None
    return evaluate_candidate(_WORKER_MD, design, seed, cfg, forecasts)


@dataclass
class SelectionResult:
    """Every fold row and daily return, the per-candidate summary (sorted by score), the
    gate's verdict and the chosen design."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    references: pd.DataFrame
    chosen: AllocatorDesign
    config: SelectionConfig
    designs: dict[str, AllocatorDesign] = field(default_factory=dict)
    daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    gate: dict = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        """Candidates tried (for the deflated Sharpe ratio)."""
        return int(self.summary["candidate"].nunique())


def summarise(rows: pd.DataFrame, references: pd.DataFrame, cfg: SelectionConfig) -> pd.DataFrame:
    """Per candidate: mean/std of fold Sharpe, seed spread, turnover, drawdown, the score and
    eligibility (turnover ≤ ``max_turnover_ratio`` × ERC's on the same folds)."""
    erc_turnover = float(references.loc[references["candidate"] == "erc", "turnover"].mean())
    out = []
    for cand, g in rows.groupby("candidate", sort=False):
        per_fold = g.groupby("fold")["sharpe"].mean()
        per_seed = g.groupby("seed")["sharpe"].mean()
        seed_std = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0
        fold_se = float(per_fold.std(ddof=1) / np.sqrt(len(per_fold)))
        mean = float(per_fold.mean())
        turnover = float(g["turnover"].mean())
        out.append(
            {
                "candidate": cand,
                "n_seeds": int(g["seed"].nunique()),
                "n_folds": int(g["fold"].nunique()),
                "mean_sharpe": mean,
                "fold_std": float(per_fold.std(ddof=1)),
                "seed_std": seed_std,
                "score": mean - cfg.penalty * (fold_se + seed_std),
                "turnover": turnover,
                "max_drawdown": float(g["max_drawdown"].max()),
                "ann_vol": float(g["ann_vol"].mean()),
                "avg_exposure": float(g["avg_exposure"].mean()),
                "eligible": bool(turnover <= cfg.max_turnover_ratio * erc_turnover),
            }
        )
    df = pd.DataFrame(out).sort_values(["eligible", "score"], ascending=[False, False])
    return df.reset_index(drop=True)


def run_selection(
    md: MarketData,
    designs: Sequence[AllocatorDesign] | None = None,
    cfg: SelectionConfig | None = None,
    n_jobs: int = 1,
    reuse: pd.DataFrame | None = None,
    reuse_daily: pd.DataFrame | None = None,
) -> SelectionResult:
    """Evaluate every (design, seed) on the development folds and choose (:func:`choose`).

    ``reuse``/``reuse_daily``: fold rows and daily returns of an earlier run
    (``model_selection_folds.csv``, ``model_selection_daily.parquet``); a candidate whose key
    has both for every seed it needs is not run again (how a later round adds candidates).
    Every candidate still counts as a trial.
    """
    cfg = cfg or SelectionConfig()
    md = md.until(cfg.dev_end)
    designs = list(designs or search_space())
    by_key = {d.key: d for d in designs}
    if len(by_key) != len(designs):
        raise ConfigError("two candidates of the search space have the same key")
    kept, kept_daily = _reusable(reuse, reuse_daily, designs, cfg)
    done = set(kept["candidate"])
    todo = [(d, s) for d, s in selection_units(designs, cfg) if d.key not in done]
    # the production forecaster's dev forecasts, once for every forecast-vol candidate
    need = any(d.vol_source == "forecast" for d, _ in todo)
    forecasts = selection_forecasts(md, cfg, n_jobs=n_jobs) if need else None
    jobs = [(d, s, cfg, forecasts if d.vol_source == "forecast" else None) for d, s in todo]
    log.info(
        "selection: %d candidates, %d units of work, %d candidates reused",
        len(designs),
        len(jobs),
        len(done),
    )
    if n_jobs > 1 and jobs:
        with ProcessPoolExecutor(n_jobs, initializer=_init_worker, initargs=(md,)) as pool:
            units = list(pool.map(_work, jobs))
    else:
        units = [evaluate_candidate(md, d, s, c, f) for d, s, c, f in jobs]
    rows = _stacked([kept, *(u[0] for u in units)], SELECTION_COLUMNS)
    daily = _stacked([kept_daily, *(u[1] for u in units)], DAILY_COLUMNS)
    return choose(md, rows, daily, designs, cfg)


def _stacked(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def _reusable(
    reuse: pd.DataFrame | None,
    reuse_daily: pd.DataFrame | None,
    designs: Sequence[AllocatorDesign],
    cfg: SelectionConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fold rows and daily returns of the designs that ``reuse`` and ``reuse_daily``
    both hold whole (every needed seed), by key."""
    cols, dcols = list(SELECTION_COLUMNS), list(DAILY_COLUMNS)
    empty = pd.DataFrame(columns=cols), pd.DataFrame(columns=dcols)
    if reuse is None or reuse.empty or reuse_daily is None or reuse_daily.empty:
        return empty
    rows = reuse.loc[reuse["kind"] == "candidate"] if "kind" in reuse else reuse
    daily = reuse_daily.assign(date=pd.to_datetime(reuse_daily["date"]))
    parts, dparts = [], []
    for d in designs:
        seeds = seeds_for(d, cfg.seeds)
        mine = rows.loc[(rows["candidate"] == d.key) & rows["seed"].isin(seeds), cols]
        mine_daily = daily.loc[(daily["candidate"] == d.key) & daily["seed"].isin(seeds), dcols]
        if set(mine["seed"]) == set(seeds) == set(mine_daily["seed"]):
            parts.append(mine)
            dparts.append(mine_daily)
    if not parts:
        return empty
    return pd.concat(parts, ignore_index=True), pd.concat(dparts, ignore_index=True)


def choose(
    md: MarketData,
    rows: pd.DataFrame,
    daily: pd.DataFrame,
    designs: Sequence[AllocatorDesign],
    cfg: SelectionConfig,
) -> SelectionResult:
    """Score the fold rows of every unit against the references, gate on the daily returns
    and choose (the one scoring step, whether the units ran here, on a pool or as
    partitions): the best-scoring eligible candidate that the gate finds better than ERC,
    else the reference design. Without a gate (``gate_alpha=None``), the best eligible."""
    by_key = {d.key: d for d in designs}
    null = AllocatorDesign().key
    if cfg.gate_alpha is not None and null not in by_key:
        raise ConfigError(
            f"a gated selection needs the reference design {null!r} among its candidates"
        )
    md = md.until(cfg.dev_end)
    evaluated = [evaluate_reference(md, n, cfg) for n in REFERENCES]
    refs = pd.concat([e[0] for e in evaluated], ignore_index=True)
    ref_daily = evaluated[REFERENCES.index(GATE_REFERENCE)][1]
    summary = summarise(rows, refs, cfg)
    eligible = summary.loc[summary["eligible"]]
    pool = eligible if len(eligible) else summary
    gate: dict = {}
    if cfg.gate_alpha is not None:
        gate = stepm_gate(daily, ref_daily, list(pool["candidate"]), cfg)
        summary["beats_reference"] = summary["candidate"].isin(gate["superior"])
        pool = pool.loc[pool["candidate"].isin(gate["superior"])]
    best = pool.iloc[0]["candidate"] if len(pool) else null
    if gate:
        gate["chosen"] = best
    return SelectionResult(rows, summary, refs, by_key[best], cfg, by_key, daily, gate)


def vol_matched_losses(
    daily: pd.DataFrame, reference: pd.DataFrame
) -> tuple[pd.Series, pd.DataFrame]:
    """Losses for the gate: minus the daily excess returns, each candidate's (averaged over
    its seeds) scaled to the reference's volatility, so a lower mean loss is a higher Sharpe.
    Candidates whose returns equal the reference's are dropped (they are the reference)."""
    ref = reference.set_index(pd.to_datetime(reference["date"]))["excess_return"]
    wide = (
        daily.assign(date=pd.to_datetime(daily["date"]))
        .groupby(["date", "candidate"])["excess_return"]
        .mean()
        .unstack("candidate")
    )
    wide = wide.reindex(ref.index)
    if wide.isna().any().any():
        bad = list(wide.columns[wide.isna().any()])[:5]
        raise ConfigError(f"daily returns of {bad} do not cover the reference's dev days")
    sd = wide.std(ddof=1)
    scaled = wide * (ref.std(ddof=1) / sd.where(sd > 0))
    same = (wide.sub(ref, axis=0).abs().max() < 1e-12) | scaled.isna().any()
    return -ref, -scaled.loc[:, ~same]


def stepm_gate(
    daily: pd.DataFrame, reference: pd.DataFrame, candidates: Sequence[str], cfg: SelectionConfig
) -> dict:
    """Which ``candidates`` beat the reference on the dev days after the search: StepM's
    superior set at ``gate_alpha``, and the SPA p-value (consistent) that none does."""
    from arch.bootstrap import SPA, StepM

    bench, losses = vol_matched_losses(daily.loc[daily["candidate"].isin(candidates)], reference)
    out = {
        "method": "StepM (Romano & Wolf 2005) on vol-matched daily excess returns",
        "reference": GATE_REFERENCE,
        "alpha": cfg.gate_alpha,
        "reps": cfg.gate_reps,
        "bootstrap": "stationary, mean block sqrt(T)",
        "n_tested": int(losses.shape[1]),
        "superior": [],
        "spa_pvalue": 1.0,
    }
    if losses.shape[1] == 0:
        return out
    kw = {"reps": cfg.gate_reps, "seed": cfg.gate_seed}
    stepm = StepM(bench, losses, size=cfg.gate_alpha, **kw)
    stepm.compute()
    spa = SPA(bench, losses, **kw)
    spa.compute()
    out["superior"] = sorted(str(c) for c in stepm.superior_models)
    out["spa_pvalue"] = round(float(spa.pvalues["consistent"]), 6)
    return out


def selection_units(
    designs: Sequence[AllocatorDesign], cfg: SelectionConfig
) -> list[tuple[AllocatorDesign, int]]:
    """Every (design, seed) the selection evaluates, in order (its partitions)."""
    return [(d, s) for d in designs for s in seeds_for(d, cfg.seeds)]


def unit_key(design: AllocatorDesign, seed: int) -> str:
    """``<design key>@<seed>``: a unit's name and partition key."""
    return f"{design.key}@{seed}"


def unit_by_key(
    designs: Sequence[AllocatorDesign], cfg: SelectionConfig, key: str
) -> tuple[AllocatorDesign, int]:
    """The (design, seed) named ``key``; ConfigError if the selection has no such unit."""
    units = {unit_key(d, s): (d, s) for d, s in selection_units(designs, cfg)}
    if key not in units:
        raise ConfigError(f"the selection has no unit {key!r}")
    return units[key]


def selection_table(result: SelectionResult) -> pd.DataFrame:
    """Rows of the ``model_selection`` table: every candidate's summary and its design."""
    s = result.summary.copy()
    s["design"] = [json.dumps(result.designs[c].to_dict()) for c in s["candidate"]]
    s["chosen"] = s["candidate"].eq(result.chosen.key)
    s["dev_start"], s["dev_end"] = result.config.dev_start, result.config.dev_end
    return s


def write_selected(result: SelectionResult, path: str | Path) -> Path:
    """The committed choice that the out-of-sample run and production read."""
    best = result.summary.loc[result.summary["candidate"] == result.chosen.key].iloc[0]
    doc = {
        "design": result.chosen.to_dict(),
        "candidate": result.chosen.key,
        "selection": asdict(result.config),
        "n_trials": result.n_trials,
        # variance across candidates of the per-day Sharpe (for the deflated Sharpe ratio)
        "trial_sharpe_var": float((result.summary["mean_sharpe"] / np.sqrt(252)).var(ddof=1)),
        "dev_score": round(float(best["score"]), 6),
        "dev_mean_sharpe": round(float(best["mean_sharpe"]), 6),
        "dev_turnover": round(float(best["turnover"]), 6),
        "gate": result.gate,
    }
    return atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def seeds_for(design: AllocatorDesign, seeds: Iterable[int]) -> list[int]:
    """The seeds a design actually needs (one for a rule-based design)."""
    seeds = list(seeds)
    return seeds if design.learned else seeds[:1]
