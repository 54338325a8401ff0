"""GARCH(1,1) parameters for the walk-forward: fitted per asset on the returns before a cut,
kept on disk between runs (:class:`GarchFitCache`), and filtered into h-day vol paths.

The cut-off is strict (returns dated before it), so a fold's GARCH never sees its own days;
every fold's fits are done in one pass, on ``n_jobs`` workers where asked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import arch
import numpy as np
import pandas as pd

from riskalloc.atomic import atomic_write_text
from riskalloc.forecast.baselines import garch_fit, garch_path
from riskalloc.parallel import parallel_map

__all__ = ["GarchFitCache", "garch_params", "garch_params_by_cut", "garch_paths"]


class GarchFitCache:
    """Per-asset GARCH(1,1) fits on disk (JSON), keyed by a hash of the training returns and
    the ``arch`` version: a rerun (the nightly extension, the weekly retrain) refits only an
    asset whose training data changed (a new fold, a revised price), and gets the same
    parameters as a fresh fit. Keeps the last ``keep`` fits per asset (one per yearly fold)."""

    keep = 40

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fits: dict[str, dict[str, dict | None]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._fits = {}
        if not all(isinstance(v, dict) for v in self._fits.values()):
            self._fits = {}
        self._dirty = False
        self.hits = 0

    @staticmethod
    def key(train: pd.Series) -> str:
        """Hash of the training returns (dates and values) and of the fitting library."""
        h = hashlib.sha256(arch.__version__.encode())
        h.update(pd.DatetimeIndex(train.index).asi8.tobytes())
        h.update(train.to_numpy(dtype=np.float64).tobytes())
        return h.hexdigest()[:20]

    def get(self, ticker: str, key: str) -> tuple[bool, dict[str, float] | None]:
        """(found, parameters; None for a fit that failed) for ``ticker`` under ``key``."""
        fits = self._fits.get(ticker, {})
        if key not in fits:
            return False, None
        self.hits += 1
        return True, fits[key]

    def put(self, ticker: str, key: str, params: dict[str, float] | None) -> None:
        """Remember a fit of ``ticker`` (the oldest goes beyond ``keep`` per asset)."""
        fits = self._fits.setdefault(ticker, {})
        fits[key] = params
        while len(fits) > self.keep:
            fits.pop(next(iter(fits)))
        self._dirty = True

    def save(self) -> None:
        """Write the fits atomically if any changed."""
        if self._dirty:
            atomic_write_text(self.path, json.dumps(self._fits, sort_keys=True))
            self._dirty = False


def _fit_params(train: pd.Series) -> dict[str, float] | None:
    """GARCH(1,1) parameters of ``train``, or None when the fit fails or is not finite."""
    try:
        p = garch_fit(train)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return {k: float(v) for k, v in p.items()} if np.isfinite(p.to_numpy()).all() else None


def garch_params(
    tickers: list[str],
    log_ret: pd.DataFrame,
    before: pd.Timestamp,
    cache: GarchFitCache | None = None,
    n_jobs: int | None = 1,
) -> dict[str, dict[str, float]]:
    """Per-asset GARCH(1,1) parameters fitted on returns dated < ``before`` (>= 252 of them);
    with ``cache``, fits whose training returns are unchanged are read back, not refitted;
    the fits left to do run on ``n_jobs`` workers (one asset per task, same numbers)."""
    return garch_params_by_cut(tickers, log_ret, [before], cache, n_jobs)[0]


def garch_params_by_cut(
    tickers: list[str],
    log_ret: pd.DataFrame,
    befores: list[pd.Timestamp],
    cache: GarchFitCache | None = None,
    n_jobs: int | None = 1,
) -> list[dict[str, dict[str, float]]]:
    """:func:`garch_params` for each cut in ``befores`` (every fold of a walk-forward), with
    all the fits the cache does not hold done in one pass over the workers."""
    trains: list[dict[str, pd.Series]] = []
    for before in befores:
        cut = log_ret.loc[log_ret.index < before]
        trains.append({t: tr for t in tickers if len(tr := cut[t].dropna()) >= 252})
    params: list[dict[str, dict[str, float] | None]] = [{} for _ in befores]
    todo: list[tuple[int, str, str | None]] = []  # (cut, ticker, cache key)
    for i, by_ticker in enumerate(trains):
        for t, train in by_ticker.items():
            key = cache.key(train) if cache is not None else None
            if cache is not None and key is not None:
                found, p = cache.get(t, key)
                if found:
                    params[i][t] = p
                    continue
            todo.append((i, t, key))
    fits = parallel_map(_fit_params, [trains[i][t] for i, t, _ in todo], n_jobs)
    for (i, t, key), p in zip(todo, fits, strict=True):
        params[i][t] = p
        if cache is not None and key is not None:
            cache.put(t, key, p)
    if cache is not None:
        cache.save()
    return [
        {t: p[t] for t in by_ticker if p[t] is not None}
        for p, by_ticker in zip(params, trains, strict=True)
    ]


def garch_paths(
    dates: pd.DatetimeIndex,
    tickers: list[str],
    log_ret: pd.DataFrame,
    params: dict[str, dict[str, float]],
    horizon: int,
) -> np.ndarray:
    """(assets, dates) GARCH h-day vol forecasts over the whole history with fixed ``params``
    (NaN for an asset without parameters); the value at t uses returns <= t only."""
    out = np.full((len(tickers), len(dates)), np.nan)
    for i, t in enumerate(tickers):
        if t in params and log_ret[t].notna().any():
            path = garch_path(log_ret[t].loc[: dates[-1]], pd.Series(params[t]), horizon)
            out[i] = path.reindex(dates).to_numpy()
    out[~np.isfinite(out)] = np.nan
    return out
