"""Model-agnostic SHAP attributions of allocation outputs (risk budgets, exposure) to features.

``explain`` wraps the ``shap`` package: Kernel SHAP over *all* 2^p coalitions for few
features (this is the exact Shapley value with an independent background, and needs no numba
compilation, unlike ``shap.explainers.Exact``), or the antithetic Permutation explainer for
more. Both are exactly additive: base value + sum of attributions = model output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskalloc.errors import DataError, ModelError

PORTFOLIO = "PORTFOLIO"
BASE_FEATURE = "_base_value"
EXACT_MAX_FEATURES = 12
LONG_COLUMNS = ["date", "ticker", "target", "feature", "value"]


def output_name(target: str, ticker: str = PORTFOLIO) -> str:
    """Name of one model output, e.g. ``risk_budget:SPY``; portfolio outputs are bare targets."""
    return target if ticker == PORTFOLIO else f"{target}:{ticker}"


def split_output_name(name: str) -> tuple[str, str]:
    """``(ticker, target)`` of an output name: ``risk_budget:SPY`` → (SPY, risk_budget)."""
    target, sep, ticker = name.partition(":")
    return (ticker, target) if sep else (PORTFOLIO, target)


@dataclass(frozen=True)
class ShapResult:
    """Attributions ``values`` (n, p, q) with ``base_values`` (n, q) for rows ``dates``."""

    values: np.ndarray
    base_values: np.ndarray
    feature_names: list[str]
    output_names: list[str]
    dates: pd.Index
    method: str

    @property
    def expected_values(self) -> pd.Series:
        """The base value of each output: its mean over the background data."""
        return pd.Series(self.base_values.mean(axis=0), index=self.output_names, name="base")

    def reconstructed(self) -> np.ndarray:
        """base value + sum of attributions, (n, q): equals the model output by additivity."""
        return self.base_values + self.values.sum(axis=1)

    def to_frame(self, include_base: bool = False) -> pd.DataFrame:
        """Long (date, ticker, target, feature, value) rows for the ``shap_attributions`` table.

        With ``include_base`` each (date, output) also gets a ``_base_value`` row so outputs
        can be rebuilt from the table alone.
        """
        n, p, q = self.values.shape
        tickers, targets = zip(*(split_output_name(o) for o in self.output_names), strict=True)
        frame = pd.DataFrame(
            {
                "date": np.repeat(np.asarray(self.dates), p * q),
                "ticker": np.tile(np.asarray(tickers, dtype=object), n * p),
                "target": np.tile(np.asarray(targets, dtype=object), n * p),
                "feature": np.tile(np.repeat(np.asarray(self.feature_names, dtype=object), q), n),
                "value": self.values.reshape(-1).astype(float),
            }
        )
        if include_base:
            base = pd.DataFrame(
                {
                    "date": np.repeat(np.asarray(self.dates), q),
                    "ticker": np.tile(np.asarray(tickers, dtype=object), n),
                    "target": np.tile(np.asarray(targets, dtype=object), n),
                    "feature": BASE_FEATURE,
                    "value": self.base_values.reshape(-1).astype(float),
                }
            )
            frame = pd.concat([frame, base], ignore_index=True)
        return frame.loc[:, LONG_COLUMNS]


def background_rows(X: np.ndarray | pd.DataFrame, n: int = 50, seed: int = 0) -> np.ndarray:
    """A deterministic random subset of ``n`` rows (all rows when fewer) as SHAP background.

    Draw it from training-period rows only, so attributions never peek at the test period.
    """
    x = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) == 0:
        raise DataError("no complete rows to draw a SHAP background from")
    if len(x) <= n:
        return x.copy()
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[idx]


def _as_2d_fn(fn: Callable[[np.ndarray], np.ndarray], q: int) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap ``fn`` so it always returns a float (m, q) array, checking the output count."""

    def wrapped(x: np.ndarray) -> np.ndarray:
        out = np.asarray(fn(np.asarray(x, dtype=float)), dtype=float)
        out = out.reshape(len(x), -1)
        if out.shape[1] != q:
            raise ModelError(f"model returned {out.shape[1]} outputs, output_names lists {q}")
        return out

    return wrapped


def explain(
    fn: Callable[[np.ndarray], np.ndarray],
    background: np.ndarray,
    X: np.ndarray | pd.DataFrame,
    feature_names: list[str],
    output_names: list[str],
    nsamples: int = 2000,
    dates: Sequence | pd.Index | None = None,
    method: str = "auto",
    seed: int = 0,
) -> ShapResult:
    """SHAP values of ``fn`` (an (m, p) → (m, q) map) at the rows of ``X`` against ``background``.

    ``method``: "exact" (Kernel SHAP on all 2^p coalitions; "auto" picks it when p ≤ 12),
    "permutation" (``nsamples`` evaluations per row, seeded), "kernel" (``nsamples`` sampled
    coalitions, no L1 selection). Rows are labelled by ``dates`` (or ``X``'s index when ``X``
    is a DataFrame). Each coalition costs len(background) model rows: keep it ≤ ~100.
    """
    import shap

    if isinstance(X, pd.DataFrame):
        dates = X.index if dates is None else dates
        X = X.to_numpy(dtype=float)
    x = np.atleast_2d(np.asarray(X, dtype=float))
    bg = np.atleast_2d(np.asarray(background, dtype=float))
    n, p = x.shape
    if bg.shape[1] != p or len(feature_names) != p:
        raise DataError(
            f"feature count mismatch: X has {p}, background {bg.shape[1]}, "
            f"feature_names {len(feature_names)}"
        )
    if not (np.isfinite(x).all() and np.isfinite(bg).all()):
        raise DataError("SHAP inputs contain NaN/inf; impute or drop those rows first")
    idx = pd.Index(range(n) if dates is None else dates, name="date")
    if len(idx) != n:
        raise DataError(f"{len(idx)} dates for {n} rows of X")
    q = len(output_names)
    model = _as_2d_fn(fn, q)
    if method == "auto":
        method = "exact" if p <= EXACT_MAX_FEATURES else "permutation"
    if method in ("exact", "kernel"):
        budget = 2**p if method == "exact" else min(nsamples, 2**p)  # ≥ 2^p - 2: enumerate all
        explainer = shap.KernelExplainer(model, bg, silent=True)
        raw = explainer.shap_values(x, nsamples=budget, l1_reg=False, silent=True)
        values = np.asarray(raw, dtype=float).reshape(n, p, q)
        base = np.broadcast_to(np.asarray(explainer.expected_value, dtype=float), (n, q))
    elif method == "permutation":
        masker = shap.maskers.Independent(bg, max_samples=len(bg))
        explainer = shap.explainers.Permutation(model, masker, seed=seed)
        exp = explainer(x, max_evals=max(nsamples, 2 * p + 1), silent=True)
        values = np.asarray(exp.values, dtype=float).reshape(n, p, q)
        base = np.broadcast_to(np.asarray(exp.base_values, dtype=float).reshape(n, -1), (n, q))
    else:
        raise ModelError(
            f"unknown SHAP method {method!r}; use 'auto', 'exact', 'permutation' or 'kernel'"
        )
    return ShapResult(
        values=values,
        base_values=np.array(base),
        feature_names=list(feature_names),
        output_names=list(output_names),
        dates=idx,
        method=method,
    )


def check_local_accuracy(
    result: ShapResult,
    fn: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray | pd.DataFrame,
    atol: float = 1e-6,
) -> float:
    """Max |f(x) − (base + Σ SHAP)| over rows and outputs; ModelError when above ``atol``."""
    x = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    out = _as_2d_fn(fn, len(result.output_names))(np.atleast_2d(x))
    err = np.abs(out - result.reconstructed())
    worst = float(err.max()) if err.size else 0.0
    if worst > atol:
        i, j = np.unravel_index(int(err.argmax()), err.shape)
        raise ModelError(
            f"SHAP local accuracy fails: output {result.output_names[j]!r} on "
            f"{result.dates[i]} is off by {worst:.3g} (atol {atol:g})"
        )
    return worst


def aggregate_by_regime(
    shap_long: pd.DataFrame, regimes: pd.Series, by_ticker: bool = False
) -> pd.DataFrame:
    """Mean |SHAP| (and mean SHAP) per regime × target × feature (× ticker if ``by_ticker``).

    ``regimes`` maps date → regime label; dates without a label are dropped, base-value
    rows are ignored. ``n_dates`` counts the dates behind each mean.
    """
    missing = set(LONG_COLUMNS) - set(shap_long.columns)
    if missing:
        raise DataError(f"SHAP frame lacks columns {sorted(missing)}")
    df = shap_long.loc[shap_long["feature"] != BASE_FEATURE].copy()
    lab = pd.Series(regimes).copy()
    lab.index = pd.to_datetime(lab.index)
    df["regime"] = pd.to_datetime(df["date"]).map(lab)
    df = df.dropna(subset=["regime"])
    df["abs_value"] = df["value"].abs()
    keys = ["regime", "target", *(["ticker"] if by_ticker else []), "feature"]
    out = (
        df.groupby(keys, sort=True)
        .agg(
            mean_abs_shap=("abs_value", "mean"),
            mean_shap=("value", "mean"),
            n_dates=("date", "nunique"),
        )
        .reset_index()
    )
    return out
