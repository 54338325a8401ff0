"""Names for the allocator's own regimes: the reference state each one overlaps most.

The allocator's K regimes are learned integers with no meaning of their own, and each trained
model numbers them differently. Each model's regime k is named after the reference state j
with the largest mean reference probability over the dates where k is active, weighted by
p_k (E[p_ref_j | allocator in k]), measured on that model's own *training* dates only, so a
published day's name never depends on data after the model was trained. Regimes sharing a
name have their probabilities summed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from riskalloc.allocate.artefacts import KIND, load_allocator
from riskalloc.allocate.daily import pick_model
from riskalloc.allocate.dataset import AllocatorData
from riskalloc.allocate.train import TrainedNetwork
from riskalloc.errors import DataError
from riskalloc.market import MarketData

RegimeProbFn = Callable[[TrainedNetwork, AllocatorData, np.ndarray], np.ndarray]


def _model_regime_probs(
    trained: TrainedNetwork, data: AllocatorData, idx: np.ndarray
) -> np.ndarray:
    """(len(idx), K) regime probabilities of the allocator's regime module.

    Runs only the macro → regime head when the model exposes it (no risk-budgeting solve),
    else a full allocation.
    """
    model = trained.model
    if hasattr(model, "regime_probs"):
        _, macro = trained.norm.apply(data, idx)
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            p = model.regime_probs(torch.from_numpy(macro).to(device))
        return p.double().cpu().numpy()
    if not data.has_factors:
        raise DataError(
            "this allocator has no regime head of its own, so its regimes need a full allocation:"
            " build the allocator data with factors=True"
        )
    return trained.allocate(data, idx).regime_probs.double().cpu().numpy()


def allocator_regime_probs(
    trained: TrainedNetwork,
    data: AllocatorData,
    idx: np.ndarray | list[int],
    prob_fn: RegimeProbFn = _model_regime_probs,
) -> pd.DataFrame:
    """Date × regime-number probabilities of one allocator at rows ``idx`` of ``data``."""
    idx = np.asarray(idx, int)
    p = np.atleast_2d(prob_fn(trained, data, idx))
    return pd.DataFrame(p, index=pd.DatetimeIndex(data.dates[idx], name="date"))


def reference_probs_from_table(regimes: pd.DataFrame) -> pd.DataFrame:
    """Date × label reference probabilities from ``regimes`` rows (date, regime, p_<label>...)."""
    cols = [c for c in regimes.columns if c.startswith("p_")]
    if regimes.empty or not cols:
        raise DataError("the regimes table holds no reference probabilities; run regime_report")
    out = regimes.set_index(pd.DatetimeIndex(pd.to_datetime(regimes["date"]), name="date"))[cols]
    return out.rename(columns=lambda c: c[2:]).sort_index()


def overlap_table(alloc: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """E[p_ref_j | allocator regime k]: rows allocator regimes, columns reference labels."""
    common = alloc.index.intersection(ref.index)
    if len(common) == 0:
        raise DataError("allocator and reference regimes share no dates; cannot name regimes")
    a, r = alloc.loc[common].to_numpy(float), ref.loc[common].to_numpy(float)
    weight = a.sum(axis=0)
    ov = (a.T @ r) / np.where(weight > 0, weight, 1.0)[:, None]
    return pd.DataFrame(ov, index=alloc.columns, columns=ref.columns)


def regime_names(overlap: pd.DataFrame) -> dict[int, str]:
    """Allocator regime → the reference label it overlaps most."""
    return {int(k): str(overlap.loc[k].idxmax()) for k in overlap.index}


def named_probs(alloc: pd.DataFrame, names: dict[int, str], labels: list[str]) -> pd.DataFrame:
    """Allocator probabilities summed by name, columns in reference label order (zeros kept)."""
    out = pd.DataFrame(0.0, index=alloc.index, columns=list(labels))
    for k in alloc.columns:
        out[names[int(k)]] += alloc[k].to_numpy(float)
    return out


class RegimeNamer:
    """Names each registered allocator's regimes once (training dates only) and applies them."""

    def __init__(
        self,
        data: AllocatorData,
        ref: pd.DataFrame,
        models_dir: str | Path,
        prob_fn: RegimeProbFn = _model_regime_probs,
    ) -> None:
        self.data, self.ref, self.models_dir, self.prob_fn = data, ref, Path(models_dir), prob_fn
        self._cache: dict[str, tuple[TrainedNetwork, dict[int, str]]] = {}

    def model(self, version: str) -> tuple[TrainedNetwork, dict[int, str]]:
        """The allocator ``version`` and its regime names, from its training window."""
        if version not in self._cache:
            trained = load_allocator(self.models_dir / KIND / version)
            lo = pd.Timestamp(trained.meta.get("train_start", self.data.dates[0]))
            hi = pd.Timestamp(trained.meta["train_end"])
            d = self.data.dates
            idx = np.flatnonzero((d >= lo) & (d <= hi) & d.isin(self.ref.index))
            if len(idx) == 0:
                raise DataError(f"no reference regimes on the training dates of {version}")
            alloc = allocator_regime_probs(trained, self.data, idx, self.prob_fn)
            self._cache[version] = (trained, regime_names(overlap_table(alloc, self.ref)))
        return self._cache[version]

    def probs(self, version: str, dates: pd.DatetimeIndex) -> pd.DataFrame:
        """Named allocator probabilities of ``version`` on ``dates``."""
        trained, names = self.model(version)
        idx = self.data.dates.get_indexer(dates)
        if (idx < 0).any():
            raise DataError(f"no allocator inputs on {dates[idx < 0][0].date()}")
        alloc = allocator_regime_probs(trained, self.data, idx, self.prob_fn)
        return named_probs(alloc, names, list(self.ref.columns))


def name_target_regimes(
    weights: pd.DataFrame,
    data: AllocatorData,
    ref: pd.DataFrame,
    models_dir: str | Path,
    prob_fn: RegimeProbFn = _model_regime_probs,
) -> pd.DataFrame:
    """``weights`` with ``regime`` replaced by the name of each day's dominant allocator regime."""
    if weights.empty:
        return weights
    namer = RegimeNamer(data, ref, models_dir, prob_fn)
    out = weights.copy()
    label: dict[pd.Timestamp, str] = {}
    for version, g in out.groupby("model_version", sort=True):
        dates = pd.DatetimeIndex(pd.to_datetime(g["date"]).unique())
        label.update(namer.probs(str(version), dates).idxmax(axis=1).to_dict())
    out["regime"] = pd.to_datetime(out["date"]).map(label).astype(str)
    return out


def allocator_named_history(
    data: AllocatorData,
    ref: pd.DataFrame,
    registry: pd.DataFrame,
    models_dir: str | Path,
    start: str | pd.Timestamp | None = None,
    prob_fn: RegimeProbFn = _model_regime_probs,
) -> pd.DataFrame:
    """Named allocator probabilities on every date from ``start`` with a model trained before it.

    Each date uses the allocator the daily publication would use (:func:`pick_model`).
    """
    namer = RegimeNamer(data, ref, models_dir, prob_fn)
    dates = data.dates if start is None else data.dates[data.dates >= pd.Timestamp(start)]
    plan: dict[str, list[pd.Timestamp]] = {}
    for d in dates:
        v = pick_model(registry, d)
        if v is not None:
            plan.setdefault(v, []).append(d)
    if not plan:
        return pd.DataFrame(columns=list(ref.columns), index=pd.DatetimeIndex([], name="date"))
    frames = [namer.probs(v, pd.DatetimeIndex(ds)) for v, ds in plan.items()]
    return pd.concat(frames).sort_index()


def reference_for_naming(md: MarketData, regimes: pd.DataFrame | None) -> pd.DataFrame:
    """Reference probabilities from the ``regimes`` table, or a fresh selection when it is empty.

    The reference is fitted on pre-2017 data and filtered forward, so the stored table and a
    fresh fit agree; the fit (about 20 s) is only a fallback for a warehouse without regimes.
    """
    if regimes is not None and not regimes.empty:
        return reference_probs_from_table(regimes)
    from riskalloc.reports.regime_reference import select_regime_reference

    model, _ = select_regime_reference(md)
    return model.filter_probabilities(md)


def name_published_regimes(
    weights: pd.DataFrame,
    md: MarketData,
    data: AllocatorData,
    regimes: pd.DataFrame | None,
    models_dir: str | Path,
) -> pd.DataFrame:
    """Target-weight rows with ``regime`` = the reference name of the allocator's own regime."""
    if weights.empty:
        return weights
    return name_target_regimes(weights, data, reference_for_naming(md, regimes), models_dir)


def reference_regime_labels(dates: pd.DatetimeIndex, reference: pd.DataFrame) -> pd.Series:
    """The most likely reference state on each date (the last filtered one known by then):
    the regime of a design without a regime module of its own."""
    ref = reference.sort_index()
    pos = ref.index.searchsorted(pd.DatetimeIndex(dates), side="right") - 1
    labels = ref.idxmax(axis=1).to_numpy()
    out = np.where(pos >= 0, labels[np.clip(pos, 0, None)], "unknown")
    return pd.Series(out, index=pd.DatetimeIndex(dates), name="regime")
