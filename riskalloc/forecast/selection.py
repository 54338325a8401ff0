"""Forecaster v2 candidates, their walk-forward forecasts, and the development-fold selection.

Protocol: every design choice is scored on the 2009-2016 yearly folds only (``select_forecaster``
truncates the data at ``dev_end`` before anything else, so it cannot read a later date); the
candidate with the lowest mean QLIKE there is the production forecaster, then run once out of
sample. Combinations refit their weights on each fold's validation year (``combine.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError
from riskalloc.forecast.combine import CombineBy, CombineWindow, combine_walk_forward
from riskalloc.forecast.evaluate import (
    MCS_SIZE,
    diebold_mariano,
    model_confidence_set,
    mz_r2,
    qlike,
)
from riskalloc.forecast.garch_fits import GarchFitCache
from riskalloc.forecast.lstm import LSTMConfig, TrainedLSTM
from riskalloc.forecast.targets import HORIZON, log_vol
from riskalloc.forecast.walkforward import (
    MODELS,
    Fold,
    fold_plan,
    walk_forward_forecasts,
)
from riskalloc.market import MarketData

Kind = Literal["baseline", "network", "combination"]
DEV_START, DEV_END = "2009-01-01", "2016-12-31"


@dataclass(frozen=True)
class Candidate:
    """One forecaster design: a built-in model, a network config, or a combination of others."""

    name: str
    kind: Kind
    note: str = ""
    net: LSTMConfig | None = None  # networks other than the built-in "lstm"
    members: tuple[str, ...] = ()  # combinations: names of other candidates or built-ins
    by: CombineBy = "global"
    window: CombineWindow = "year"  # combinations: the validation rows their weights fit on
    shrink: float = 0.0  # combinations: pull towards equal weights (1: equal, nothing fitted)
    round: int = 1  # 1: designed before any score; 2: after round 1's dev-fold scores;
    # 3: after the out-of-sample run (its diagnosis of the weights), scored on dev folds only

    def __post_init__(self) -> None:
        """Validate the kind and that each kind has what it needs."""
        if self.kind not in get_args(Kind):
            raise ConfigError(f"candidate {self.name!r}: kind {self.kind!r}, not {get_args(Kind)}")
        if self.kind == "combination" and len(self.members) < 2:
            raise ConfigError(f"combination {self.name!r} needs at least two members")
        if self.kind == "network" and self.net is None and self.name != "lstm":
            raise ConfigError(f"network candidate {self.name!r} needs a config")
        if self.kind == "baseline" and self.name not in MODELS:
            raise ConfigError(f"baseline {self.name!r} must be one of {MODELS}")
        if self.window not in get_args(CombineWindow):
            raise ConfigError(f"candidate {self.name!r}: window {self.window!r}")
        if not 0.0 <= self.shrink <= 1.0:
            raise ConfigError(f"candidate {self.name!r}: shrink {self.shrink} not in [0, 1]")


def _v2(**kw: object) -> LSTMConfig:
    """A v2 network: HAR/return/semivariance/GARCH inputs, cosine LR, epochs to let val turn."""
    base = {
        "features": "v2",
        "base": "garch",
        "loss": "qlike",
        "val_metric": "qlike",
        "lr_schedule": "cosine",
        "max_epochs": 20,
        "patience": 5,
        "stride": 5,
        "clip_z": 8.0,
        "shrink_grid": (1.0,),
    }
    return LSTMConfig(**{**base, **kw})


NET_QLIKE = _v2()
NET_LOGNORMAL = _v2(loss="logmse", val_metric="logmse", bias_correct=True)
LOGNORMAL_MEMBERS = ("net_lognormal", "har", "garch")  # the round 3 combinations' members

CANDIDATES: tuple[Candidate, ...] = (
    Candidate("ewma", "baseline", "RiskMetrics lambda 0.94"),
    Candidate("garch", "baseline", "GARCH(1,1), arch, refit yearly"),
    Candidate("har", "baseline", "HAR-RV per asset, OLS on log RV"),
    Candidate("lstm", "network", "v1 LSTM: log-MSE, EWMA base, shrinkage (allocator input)"),
    Candidate("net_qlike", "network", "v2 LSTM, QLIKE loss, GARCH base", NET_QLIKE),
    Candidate(
        "net_lognormal", "network", "v2 LSTM, log-MSE + lognormal bias, GARCH base", NET_LOGNORMAL
    ),
    Candidate("net_qlike_lr3e-4", "network", "net_qlike with lr 3e-4", _v2(lr=3e-4)),
    Candidate("net_qlike_ewma_base", "network", "net_qlike correcting EWMA", _v2(base="ewma")),
    Candidate("combo_har_garch", "combination", "HAR + GARCH", members=("har", "garch")),
    Candidate(
        "combo_qlike",
        "combination",
        "net_qlike + HAR + GARCH, global weights",
        members=("net_qlike", "har", "garch"),
    ),
    Candidate(
        "combo_qlike_class",
        "combination",
        "net_qlike + HAR + GARCH, weights per asset class",
        members=("net_qlike", "har", "garch"),
        by="asset_class",
    ),
    Candidate(
        "combo_lognormal",
        "combination",
        "net_lognormal + HAR + GARCH, global weights",
        members=("net_lognormal", "har", "garch"),
    ),
    Candidate(
        "combo_lognormal_class",
        "combination",
        "net_lognormal + HAR + GARCH, weights per asset class",
        members=("net_lognormal", "har", "garch"),
        by="asset_class",
    ),
    # round 2, after round 1 on the dev folds: v2 nets alone lost to v1 (which shrinks to EWMA
    # on validation) and mostly kept epoch 1-3; per-class combinations won
    Candidate(
        "net_qlike_ewma_shrink",
        "network",
        "v2 LSTM, QLIKE, EWMA base, shrinkage picked on validation (as v1)",
        _v2(base="ewma", shrink_grid=(0.0, 0.25, 0.5, 0.75, 1.0)),
        round=2,
    ),
    Candidate(
        "net_lognormal_small",
        "network",
        "net_lognormal with hidden 16, weight decay 1e-3",
        _v2(loss="logmse", val_metric="logmse", bias_correct=True, hidden=16, weight_decay=1e-3),
        round=2,
    ),
    Candidate(
        "combo_lstm_class",
        "combination",
        "v1 lstm + HAR + GARCH, weights per asset class",
        members=("lstm", "har", "garch"),
        by="asset_class",
        round=2,
    ),
    Candidate(
        "combo_all_class",
        "combination",
        "lstm + net_lognormal + HAR + GARCH + EWMA, weights per asset class",
        members=("lstm", "net_lognormal", "har", "garch", "ewma"),
        by="asset_class",
        round=2,
    ),
    # round 3, declared after the out-of-sample run, whose weights swung from fold to fold and
    # sat at corners of the simplex (GARCH's equity weight 0-100 %): weights estimated on more
    # rows, or shrunk towards equal ones. Members unchanged, so no network is retrained.
    *(
        Candidate(name, "combination", note, members=LOGNORMAL_MEMBERS, round=3, **kw)
        for name, note, kw in (
            (
                "combo_lognormal_class_expanding",
                "net_lognormal + HAR + GARCH, per class, weights fit on every year before the fold",
                {"by": "asset_class", "window": "expanding"},
            ),
            (
                "combo_lognormal_expanding",
                "net_lognormal + HAR + GARCH, global, weights fit on every year before the fold",
                {"window": "expanding"},
            ),
            (
                "combo_lognormal_class_half",
                "combo_lognormal_class with its weights shrunk half-way to equal",
                {"by": "asset_class", "shrink": 0.5},
            ),
            (
                "combo_lognormal_equal",
                "net_lognormal + HAR + GARCH, equal weights (nothing fitted)",
                {"shrink": 1.0},
            ),
        )
    ),
)
BY_NAME: dict[str, Candidate] = {c.name: c for c in CANDIDATES}


def _closure(candidates: tuple[Candidate, ...]) -> list[Candidate]:
    """The candidates plus every candidate their combinations need (members first)."""
    known = {**BY_NAME, **{c.name: c for c in candidates}}
    out: dict[str, Candidate] = {}

    def add(c: Candidate) -> None:
        for m in c.members:
            if m not in known:
                raise ConfigError(f"combination {c.name!r}: unknown member {m!r}")
            add(known[m])
        out.setdefault(c.name, c)

    for c in candidates:
        add(c)
    return list(out.values())


def candidate_forecasts(
    md: MarketData,
    start: str,
    end: str,
    candidates: tuple[Candidate, ...],
    seed: int = 0,
    include: tuple[str, ...] = (),
    lstm_config: LSTMConfig | None = None,
    on_fold_model: Callable[[Fold, TrainedLSTM], None] | None = None,
    warmup_years: int = 1,
    horizon: int = HORIZON,
    on_net_model: Callable[[str, Fold, TrainedLSTM], None] | None = None,
    garch_cache: GarchFitCache | None = None,
    n_jobs: int | None = 1,
) -> tuple[pd.DataFrame, dict]:
    """Walk-forward rows of ``candidates`` (and the built-ins in ``include``) over [start, end].

    Models run from ``warmup_years`` earlier (where the data allow) so the first fold's
    combination weights have a validation year of genuine walk-forward forecasts; those
    warm-up rows are dropped. Returns the rows and per-fold details (kept epochs, training
    seconds, combination weights); ``on_net_model(name, fold, trained)`` sees each network.
    """
    todo = _closure(candidates)
    builtins = tuple(
        m for m in MODELS if m in include or any(c.name == m and c.net is None for c in todo)
    )
    nets = {c.name: c.net for c in todo if c.net is not None}
    lo = pd.Timestamp(start)
    first_ok = md.dates[0] + pd.DateOffset(years=2)
    warm = pd.Timestamp(max(lo.year - warmup_years, first_ok.year + 1), 1, 1)
    warm = min(warm, lo)
    details: dict = {"nets": {n: [] for n in nets}, "combos": {}}

    def on_net(name: str, fold: Fold, trained: TrainedLSTM) -> None:
        """Record what each fold's network kept (epochs, time, validation QLIKE)."""
        m = trained.meta
        details["nets"][name].append(
            {
                "fold": fold.name,
                "kept_epoch": m["kept_epoch"],
                "epochs_run": m["epochs_run"],
                "train_seconds": m["train_seconds"],
                "val_qlike": round(m["val_qlike"], 5),
                "log_bias": round(m["log_bias"], 5),
            }
        )
        if on_net_model is not None:
            on_net_model(name, fold, trained)

    t0 = time.perf_counter()
    fc = walk_forward_forecasts(
        md,
        str(warm.date()),
        end,
        horizon=horizon,
        seed=seed,
        models=builtins,
        lstm_config=lstm_config,
        on_fold_model=on_fold_model,
        nets=nets,
        on_net_model=on_net,
        garch_cache=garch_cache,
        n_jobs=n_jobs,
    )
    details["walk_forward_seconds"] = round(time.perf_counter() - t0, 1)
    folds = fold_plan(md.dates, str(warm.date()), end, horizon=horizon)
    parts = [fc]
    for c in todo:
        if c.kind != "combination":
            continue
        rows, info = combine_walk_forward(
            pd.concat(parts, ignore_index=True),
            c.name,
            c.members,
            folds,
            md.dates,
            md.asset_classes,
            c.by,
            window=c.window,
            shrink=c.shrink,
        )
        parts.append(rows)
        details["combos"][c.name] = info
    out = pd.concat(parts, ignore_index=True)
    out = out.loc[out["date"] >= lo].sort_values(["model", "date", "ticker"], kind="stable")
    return out.reset_index(drop=True), details


def _common(fc: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """(date, ticker) x names forecasts on rows every name forecast and whose target is known."""
    sub = fc.loc[fc["model"].isin(names) & np.isfinite(fc["target_vol"].to_numpy(dtype=float))]
    wide = sub.pivot_table(
        index=["date", "ticker"], columns="model", values="forecast_vol", aggfunc="first"
    ).reindex(columns=names)
    wide["__target"] = sub.groupby(["date", "ticker"])["target_vol"].first()
    return wide.dropna()


def _config_cols(c: Candidate) -> dict:
    """The design choices of a candidate as flat columns."""
    net = c.net if c.net is not None else (LSTMConfig() if c.name == "lstm" else None)
    return {
        "members": "+".join(c.members),
        "weights_by": c.by if c.kind == "combination" else "",
        "weights_window": c.window if c.kind == "combination" else "",
        "weights_shrink": c.shrink if c.kind == "combination" else np.nan,
        "features": net.features if net else "",
        "base": net.base if net else "",
        "loss": (net.loss + ("+lognormal_bias" if net.bias_correct else "")) if net else "",
        "lr": net.lr if net else np.nan,
        "lr_schedule": net.lr_schedule if net else "",
        "max_epochs": net.max_epochs if net else np.nan,
    }


def gated_choice(
    mean: dict[str, float],
    mcs_pvalue: dict[str, float],
    baselines: list[str],
    order: list[str],
    size: float = MCS_SIZE,
) -> str:
    """The candidate with the lowest mean dev QLIKE, unless the best baseline is still in the
    model confidence set at ``size``: then that baseline (a network or combination must be
    shown better than EWMA, GARCH and HAR after the whole search, not merely score lower).
    Ties go to the earlier candidate of ``order``."""
    best = min(order, key=lambda n: (mean[n], order.index(n)))
    kept = [b for b in baselines if b in mean]
    if not kept:
        return best
    base = min(kept, key=lambda n: (mean[n], order.index(n)))
    return base if mcs_pvalue.get(base, 0.0) >= size else best


def select_forecaster(
    md: MarketData,
    candidates: tuple[Candidate, ...] = CANDIDATES,
    dev_start: str = DEV_START,
    dev_end: str = DEV_END,
    seed: int = 0,
    n_jobs: int | None = 1,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Score every candidate on the development folds; ``chosen`` by :func:`gated_choice`
    (the lowest mean QLIKE, once the best baseline is outside the 10 % model confidence set;
    ``n_jobs`` folds at once: the same table).

    Data after ``dev_end`` are cut off first, so targets that would need them are unknown
    (NaN) and never scored. All candidates are compared on the same (date, ticker) rows.
    Returns the selection table (one row per candidate: one trial each, one seed), the
    forecasts and the per-fold details.
    """
    view = md.until(dev_end)
    fc, details = candidate_forecasts(view, dev_start, dev_end, candidates, seed, n_jobs=n_jobs)
    names = [c.name for c in candidates]
    wide = _common(fc, names)
    y = wide["__target"].to_numpy()
    dates = wide.index.get_level_values("date")
    years = sorted(set(dates.year))
    losses = {n: qlike(y, wide[n].to_numpy()) for n in names}
    mean = {n: float(v.mean()) for n, v in losses.items()}
    daily = {n: pd.Series(v, index=dates).groupby(level=0).mean() for n, v in losses.items()}
    # which candidates the dev data cannot tell from the best, all comparisons accounted for
    mcs_p = model_confidence_set(pd.DataFrame(daily), seed=seed)
    baselines = [c.name for c in candidates if c.kind == "baseline"]
    chosen = gated_choice(mean, mcs_p.to_dict(), baselines, names)
    rows = []
    for trial, c in enumerate(candidates, start=1):
        f = wide[c.name].to_numpy()
        stat, p = (
            diebold_mariano((daily[c.name] - daily[chosen]).to_numpy())
            if c.name != chosen
            else (np.nan, np.nan)
        )
        net_info = details["nets"].get(c.name, [])
        dev_info = [d for d in net_info if d["fold"] >= dev_start[:4]]
        row = {
            "trial": trial,
            "round": c.round,
            "candidate": c.name,
            "kind": c.kind,
            "note": c.note,
            **_config_cols(c),
            "dev_qlike": mean[c.name],
            "dev_rmse_log": float(np.sqrt(np.mean((log_vol(f) - log_vol(y)) ** 2))),
            "dev_mz_r2": mz_r2(y, f),
            **{f"qlike_{yr}": float(losses[c.name][dates.year == yr].mean()) for yr in years},
            "dm_vs_chosen": stat,
            "dm_p_vs_chosen": p,
            "mcs_pvalue": float(mcs_p[c.name]),
            "in_mcs": bool(mcs_p[c.name] >= MCS_SIZE),
            "kept_epochs": ";".join(f"{d['fold']}:{d['kept_epoch']}" for d in dev_info),
            "val_qlike_mean": (
                float(np.mean([d["val_qlike"] for d in dev_info])) if dev_info else np.nan
            ),
            "train_s_per_fold": (
                float(np.mean([d["train_seconds"] for d in dev_info])) if dev_info else np.nan
            ),
            "n_obs": len(wide),
            "n_folds": len(years),
            "seeds": 1,
            "chosen": c.name == chosen,
        }
        rows.append(row)
    table = pd.DataFrame(rows)
    table["n_candidates"] = len(candidates)
    table["n_trials"] = len(candidates)  # one trial (one seed, one run) per candidate
    details["gate"] = {
        "method": "model confidence set (Hansen, Lunde & Nason 2011; arch MCS, range statistic)",
        "losses": f"daily mean QLIKE over assets, {len(daily[names[0]])} dev dates",
        "size": MCS_SIZE,
        "reps": 1000,
        "bootstrap": "stationary, mean block sqrt(T)",
        "in_mcs": sorted(n for n in names if mcs_p[n] >= MCS_SIZE),
        "best_baseline": min(baselines, key=lambda n: mean[n]) if baselines else None,
        "chosen": chosen,
    }
    return table, fc, details
