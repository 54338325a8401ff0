"""The production volatility forecaster (chosen on the 2009-2016 folds) and its evaluation.

``PRODUCTION`` is the ``chosen`` candidate of ``benchmarks/results/forecaster_selection.csv``
(``scripts/evaluate_forecaster.py --select``: the lowest dev QLIKE, with the baselines outside the
model confidence set). Its rows go to ``vol_forecasts`` under its own
model name; the allocator keeps reading the v1 ``lstm`` rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from riskalloc.errors import DataError, ModelError
from riskalloc.forecast.artefacts import load_model, save_model
from riskalloc.forecast.combine import apply_weights
from riskalloc.forecast.evaluate import evaluate_forecasts
from riskalloc.forecast.garch_fits import GarchFitCache
from riskalloc.forecast.lstm import LSTMConfig, TrainedLSTM
from riskalloc.forecast.panel import Panels
from riskalloc.forecast.selection import BY_NAME, Candidate, candidate_forecasts
from riskalloc.forecast.walkforward import (
    MODELS,
    Fold,
    forecast_range,
    walk_forward_forecasts,
)
from riskalloc.market import MarketData

log = logging.getLogger(__name__)

# lowest development QLIKE of 21 candidates (0.2134; next combo_all_class 0.2151, DM p 0.57)
PRODUCTION: Candidate = BY_NAME["combo_lognormal_class"]


def production_forecasts(
    md: MarketData,
    start: str,
    end: str,
    seed: int = 0,
    include: tuple[str, ...] = MODELS,
    lstm_config: LSTMConfig | None = None,
    on_fold_model: Callable[[Fold, TrainedLSTM], None] | None = None,
    on_net_model: Callable[[str, Fold, TrainedLSTM], None] | None = None,
    garch_cache: GarchFitCache | None = None,
    n_jobs: int | None = 1,
) -> tuple[pd.DataFrame, dict]:
    """Walk-forward rows of the production forecaster plus the built-ins in ``include``;
    ``garch_cache`` keeps the folds' GARCH fits for the next run and the nightly extension;
    ``n_jobs`` folds train at once (same rows)."""
    return candidate_forecasts(
        md,
        start,
        end,
        (PRODUCTION,),
        seed=seed,
        include=include,
        lstm_config=lstm_config,
        on_fold_model=on_fold_model,
        on_net_model=on_net_model,
        garch_cache=garch_cache,
        n_jobs=n_jobs,
    )


def period_label(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """Years of a period as the metrics label them, e.g. ``2017-2022`` (``2020`` for one)."""
    return f"{start.year}" if start.year == end.year else f"{start.year}-{end.year}"


def forecast_eval_frame(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
    candidate: Candidate | None = None,
    members: tuple[Candidate, ...] = (),
) -> pd.DataFrame:
    """The ``forecast_eval`` rows of [start, end] on ``md``: production, v1 LSTM and baselines.

    Walk-forward forecasts (yearly refits, each on data before its year) scored by QLIKE,
    RMSE of log vol, Mincer-Zarnowitz R² and Diebold-Mariano, overall and per asset class,
    with the boolean ``production`` marking the production forecaster's rows; the members of
    a combination are scored too. ``candidate`` (with the ``members`` it names) replaces
    ``PRODUCTION`` (tests use a small network).
    """
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    prod = candidate or PRODUCTION
    fc, _ = candidate_forecasts(md, str(lo.date()), str(hi.date()), (prod, *members), seed, MODELS)
    fc = fc.loc[fc["date"] <= hi]
    periods = {period_label(lo, hi): (str(lo.date()), str(hi.date()))}
    return evaluate_forecasts(fc, md.asset_classes, periods, production=prod.name)


def write_forecast_eval(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    out_dir: str | Path,
    seed: int = 0,
) -> Path | None:
    """Write ``forecast_eval.csv`` (``forecast_eval_frame``) to ``out_dir``; return its path.

    With too little history before ``start`` to fit the forecasters it logs why and writes
    nothing (the backtest itself does not need it).
    """
    try:
        ev = forecast_eval_frame(md, start, end, seed)
    except (DataError, ModelError) as exc:
        log.warning("forecast_eval.csv not written: %s", exc)
        return None
    path = Path(out_dir) / "forecast_eval.csv"
    ev.to_csv(path, index=False)
    log.info("wrote %s (%d rows, production model %s)", path, len(ev), PRODUCTION.name)
    return path


ARTEFACT = "production.json"
GARCH_FITS = "garch_fits.json"  # every fold's GARCH fits: reused while their data is unchanged
COLUMNS = ["date", "ticker", "model", "forecast_vol", "target_vol", "fold", "model_version"]


def save_production(
    root: str | Path,
    fold: str,
    nets: dict[str, TrainedLSTM],
    details: dict,
    candidate: Candidate | None = None,
) -> dict:
    """Save the newest fold's production pieces under ``root`` (not in ``model_registry``, so
    the allocator's ``lstm`` lookup never sees them): its networks and combination weights."""
    cand = candidate or PRODUCTION
    root = Path(root)
    versions = {name: save_model(t, {"fold": fold}, {}, root) for name, t in nets.items()}
    combos = details.get("combos", {}).get(cand.name, [])
    spec = {
        "model": cand.name,
        "kind": cand.kind,
        "members": list(cand.members),
        "fold": fold,
        "nets": versions,
        "weights": combos[-1]["weights"] if combos else {},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / ARTEFACT).write_text(json.dumps(spec, indent=2, sort_keys=True))
    return spec


def extend_production(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    root: str | Path,
    candidate: Candidate | None = None,
    panels: Panels | None = None,
) -> pd.DataFrame:
    """Production forecasts for [start, end] from the pieces ``save_production`` stored (the
    nightly step): saved networks, the year's GARCH/HAR refits (data before the year; GARCH
    fits are kept in ``root`` and refitted only when that data changes) and the saved
    combination weights. ``panels`` shares the input panels with the caller's other models.
    Raises ``ModelError`` when nothing usable is stored."""
    cand = candidate or PRODUCTION
    root = Path(root)
    try:
        spec = json.loads((root / ARTEFACT).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"no production forecaster stored under {root}: {exc}") from exc
    if spec.get("model") != cand.name:
        raise ModelError(f"stored production model {spec.get('model')!r} is not {cand.name!r}")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    names = list(cand.members) if cand.kind == "combination" else [cand.name]
    if "lstm" in names:
        raise ModelError("a production forecaster built on the v1 lstm cannot be extended")
    builtins = tuple(m for m in names if m in MODELS)
    panels = (panels or Panels(md)).check(md)
    parts = []
    if builtins:
        year = pd.Timestamp(lo.year, 1, 1)  # the same fold (refit before the year) as weekly
        wf = walk_forward_forecasts(
            md,
            str(year.date()),
            str(hi.date()),
            models=builtins,
            panels=panels,
            garch_cache=GarchFitCache(root / GARCH_FITS),
        )
        parts.append(wf.loc[wf["date"] >= lo])
    for name, version in spec["nets"].items():
        trained = load_model(root / "forecaster" / version)
        df = forecast_range(md, trained, lo, hi, panels)
        df["model"], df["target_vol"] = name, float("nan")
        df["fold"], df["model_version"] = "live", str(trained.meta.get("version", version))
        parts.append(df)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    if cand.kind == "combination":
        classes = md.asset_classes
        out = apply_weights(rows, cand.name, cand.members, spec["weights"], classes, "live")
    else:
        out = rows.loc[rows["model"] == cand.name].copy()
    out["fold"] = "live"
    out["target_vol"] = float("nan")
    return out[COLUMNS].sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)
