"""The regime report run: select and fit the reference, filter, name the allocator's regimes.

One call for the ``regime_report`` asset and scripts: the selection table and the fitted
reference are written next to the report (``selection.md``, ``hmm.json``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskalloc.allocate.dataset import AllocatorData
from riskalloc.errors import ModelError
from riskalloc.market import MarketData
from riskalloc.reports.regime_names import allocator_named_history
from riskalloc.reports.regime_reference import (
    MIN_DURATION_DAYS,
    STATE_GRID,
    TRAIN_END,
    RegimeHMM,
    regime_features,
    select_regime_reference,
)
from riskalloc.reports.regime_report import RegimeReport, regime_report
from riskalloc.reports.render import atomic_write_text, markdown_table

CHECK_PERIODS = {
    "2008 Q4": ("2008-10-01", "2008-12-31"),
    "March 2020": ("2020-03-01", "2020-03-31"),
    "2017": ("2017-01-01", "2017-12-31"),
    "2022": ("2022-01-01", "2022-12-31"),
}


@dataclass(frozen=True)
class RegimeRun:
    """The fitted reference, its selection table, filtered probabilities and the report."""

    model: RegimeHMM
    selection: pd.DataFrame
    probs: pd.DataFrame
    allocator: pd.DataFrame
    report: RegimeReport
    periods: pd.DataFrame


def period_shares(probs: pd.DataFrame, periods: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Share of days each state dominates in each named period (periods outside the data drop)."""
    dom = probs.idxmax(axis=1)
    rows = {}
    for name, (lo, hi) in periods.items():
        d = dom.loc[lo:hi]
        if len(d):
            rows[name] = d.value_counts(normalize=True).reindex(probs.columns, fill_value=0.0)
    return pd.DataFrame(rows).T.rename_axis("period")


def _fingerprint(md: MarketData, train_end: str, n_init: int) -> str:
    """Hash of everything the selection sees: the raw inputs ≤ train_end and the settings."""
    raw = regime_features(md.until(pd.Timestamp(train_end)))
    h = hashlib.sha256()
    h.update(json.dumps([list(raw.columns), train_end, n_init, list(STATE_GRID)]).encode())
    h.update(np.ascontiguousarray(raw.to_numpy(dtype=float).round(12)).tobytes())
    h.update(np.asarray(raw.index.asi8).tobytes())
    return h.hexdigest()


def _cached_selection(
    md: MarketData, cache: Path, train_end: str, n_init: int
) -> tuple[RegimeHMM, pd.DataFrame]:
    """The selection, reused from ``cache`` when its inputs ≤ train_end are unchanged.

    The nightly run then skips the 12 candidate fits (about 20 s); any change to the data
    before ``train_end``, to the inputs or to the settings refits everything.
    """
    key = _fingerprint(md, train_end, n_init)
    if cache.exists():
        try:
            saved = json.loads(cache.read_text())
            if saved.get("fingerprint") == key:
                return RegimeHMM.from_dict(saved["model"]), pd.DataFrame(saved["selection"])
        except (ValueError, KeyError, TypeError, ModelError):
            pass  # unreadable cache: refit
    model, selection = select_regime_reference(md, train_end, n_init=n_init)
    payload = {
        "fingerprint": key,
        "model": model.to_dict(),
        "selection": json.loads(selection.to_json(orient="records")),
    }
    atomic_write_text(cache, json.dumps(payload))
    return model, selection


def _selection_note(model: RegimeHMM, selection: pd.DataFrame) -> str:
    """One paragraph: which reference was chosen, and by which pre-train_end rule."""
    return (
        f"Reference: Gaussian HMM on **{model.inputs}** ({', '.join(model.feature_names)}), "
        f"{model.n_states} states, fitted on data to {model.train_end}, inputs standardised on "
        f"expanding windows, probabilities filtered. Chosen among {len(selection)} candidates: "
        f"every state's expected duration ≥ {MIN_DURATION_DAYS:g} days, lowest BIC per input set, "
        "then the highest separation of next-month realised vol (η²) between states."
    )


def run_regime_report(
    md: MarketData,
    out_dir: str | Path,
    allocator_data: AllocatorData | None = None,
    registry: pd.DataFrame | None = None,
    models_dir: str | Path | None = None,
    train_end: str = TRAIN_END,
    n_init: int = 3,
) -> RegimeRun:
    """Select the reference on data ≤ ``train_end``, filter every date, write the report files.

    With ``allocator_data``, ``registry`` and ``models_dir`` the allocator's own regimes (named
    after the reference) are shown beside it for every date a model was trained before.
    """
    out = Path(out_dir)
    model, selection = _cached_selection(md, out / "selection_cache.json", train_end, n_init)
    probs = model.filter_probabilities(md)
    alloc = pd.DataFrame(columns=probs.columns, index=pd.DatetimeIndex([], name="date"))
    have_models = registry is not None and not registry.empty and models_dir is not None
    if allocator_data is not None and have_models:
        alloc = allocator_named_history(allocator_data, probs, registry, models_dir)
    vix_ids = [s for s, r in md.series_roles.items() if r == "volatility_expectation"]
    vix = md.macro_asof(vix_ids[0]) if vix_ids else None
    periods = period_shares(probs, CHECK_PERIODS)
    rep = regime_report(
        probs,
        out,
        vix=vix,
        allocator=alloc,
        notes=[_selection_note(model, selection)],
        tables={"Share of days per state in check periods (reported, not tuned on)": periods},
    )
    atomic_write_text(out / "hmm.json", json.dumps(model.to_dict(), indent=1))
    atomic_write_text(
        out / "selection.md",
        "# Regime reference selection (data ≤ "
        + train_end
        + ")\n\n"
        + markdown_table(selection, floatfmt=".4g", index=False),
    )
    return RegimeRun(model, selection, probs, alloc, rep, periods)
