"""A regime reference a practitioner recognises: a Gaussian HMM on volatility and credit stress.

Inputs (point in time, every one standardised on an *expanding* window so that levels drifting
over decades do not define the states): log VIX and its 21-day change, the log 21-day realised
vol of the equity proxy, each credit spread (HY OAS, BAA-10Y) and its 21-day change, and at most
one curve-slope level as a secondary input.

The input set and the number of states are chosen on pre-2017 data only
(:func:`select_regime_reference`), by a rule fixed before looking at later years:

1. persistence gate: every state's expected duration 1 / (1 − a_kk) ≥ 21 trading days;
2. per input set, the number of states (2, 3, 4) with the lowest BIC among those passing;
3. across input sets (BICs of different inputs are not comparable), the highest separation of
   next-month realised vol between states: η², the share of the variance of the next 21 days'
   log realised vol of the equity proxy explained by the filtered dominant state.

Probabilities are *filtered* (forward algorithm, p(state_t | obs_1..t)), never smoothed, so a
date's regime never depends on later data. States are ordered by their mean (standardised)
log VIX and labelled calm, normal, (elevated,) stress. The inputs and the selection criteria's
measures live in :mod:`riskalloc.reports.regime_inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, DataError, ModelError
from riskalloc.market import MarketData
from riskalloc.reports.regime_inputs import (
    CHANGE_WINDOW,
    MIN_HISTORY,
    candidate_inputs,
    expanding_zscore,
    next_month_log_vol,
    regime_features,
    separation_eta2,
)

__all__ = [  # the inputs are re-exported: the reference's users import them from here
    "MIN_DURATION_DAYS",
    "STATE_GRID",
    "TRAIN_END",
    "RegimeHMM",
    "candidate_inputs",
    "expanding_zscore",
    "fit_regime_hmm",
    "regime_features",
    "select_regime_reference",
    "selection_criteria",
    "separation_eta2",
    "state_labels",
]

TRAIN_END = "2016-12-31"
STATE_GRID = (2, 3, 4)
MIN_DURATION_DAYS = 21.0
_LABELS = {
    2: ("calm", "stress"),
    3: ("calm", "normal", "stress"),
    4: ("calm", "normal", "elevated", "stress"),
}
_KIND = "regime_reference_hmm"
_FORMAT_VERSION = 2


def _logsumexp_cols(x: np.ndarray) -> np.ndarray:
    """log(sum(exp(x), axis=0)) for a small matrix; an all -inf column (a state that cannot
    be reached: zero probability times zero transitions) gives -inf, not NaN."""
    top = x.max(axis=0)
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf is exact here
        return shift + np.log(np.exp(x - shift).sum(axis=0))


def state_labels(n_states: int) -> tuple[str, ...]:
    """Labels from calmest to most stressed: calm, normal, (elevated,) stress; generic beyond 4."""
    if n_states < 2:
        raise ConfigError(f"a regime HMM needs at least 2 states, got n_states={n_states}")
    if n_states in _LABELS:
        return _LABELS[n_states]
    return ("calm", *(f"regime_{i}" for i in range(1, n_states - 1)), "stress")


@dataclass
class RegimeHMM:
    """A fitted Gaussian HMM with states sorted calm → stress; filters without look-ahead."""

    inputs: str  # name of the input set, e.g. "vol+BAMLH0A0HYM2"
    feature_names: list[str]
    labels: list[str]
    startprob: np.ndarray  # (K,)
    transmat: np.ndarray  # (K, K), rows sum to 1
    means: np.ndarray  # (K, p) in expanding-z units
    covars: np.ndarray  # (K, p, p) full covariances
    train_end: str
    change_window: int = CHANGE_WINDOW
    min_history: int = MIN_HISTORY
    covariance_type: str = "full"
    seed: int = 0
    train_loglik: float = float("nan")
    n_train: int = 0

    @property
    def n_states(self) -> int:
        """Number of hidden states."""
        return len(self.labels)

    @property
    def n_parameters(self) -> int:
        """Free parameters: start probs, transitions, means and covariances."""
        k, p = self.means.shape
        cov = k * p if self.covariance_type == "diag" else k * p * (p + 1) // 2
        return (k - 1) + k * (k - 1) + k * p + cov

    @property
    def bic(self) -> float:
        """Bayesian information criterion on the training window (lower is better)."""
        return -2.0 * self.train_loglik + self.n_parameters * float(np.log(self.n_train))

    @property
    def expected_durations(self) -> pd.Series:
        """Expected spell length 1 / (1 − a_kk) of each state, in trading days."""
        stay = np.clip(np.diag(self.transmat), 0.0, 1.0 - 1e-12)
        return pd.Series(1.0 / (1.0 - stay), index=self.labels, name="expected_days")

    def standardised_features(self, md: MarketData) -> pd.DataFrame:
        """The HMM's inputs on ``md``'s dates, each scaled by its expanding mean and std."""
        z = expanding_zscore(regime_features(md, self.change_window), self.min_history)
        missing = [c for c in self.feature_names if c not in z.columns]
        if missing:
            raise DataError(f"regime inputs {missing} cannot be built from this MarketData")
        return z.loc[:, self.feature_names]

    def state_log_likelihood(self, z: np.ndarray) -> np.ndarray:
        """log N(z_t | mean_k, cov_k) for each row and state: shape (n, K)."""
        n, p = z.shape
        out = np.empty((n, self.n_states))
        for k in range(self.n_states):
            chol = np.linalg.cholesky(self.covars[k])
            sol = np.linalg.solve(chol, (z - self.means[k]).T)  # (p, n)
            logdet = 2.0 * np.log(np.diag(chol)).sum()
            out[:, k] = -0.5 * (p * np.log(2 * np.pi) + logdet + (sol**2).sum(axis=0))
        return out

    def forward_filter(self, z: np.ndarray) -> tuple[np.ndarray, float]:
        """Filtered probabilities p(s_t | z_1..t) (n, K) and the total log-likelihood.

        Rows of ``z`` with NaN carry no information: that step only propagates the chain.
        """
        ll = self.state_log_likelihood(np.nan_to_num(z))
        ll[np.isnan(z).any(axis=1)] = 0.0
        with np.errstate(divide="ignore"):  # log(0) = -inf is exact: impossible transitions
            log_a, prev = np.log(self.transmat), np.log(self.startprob)
        alpha = np.empty_like(ll)
        total = 0.0
        for t in range(ll.shape[0]):
            pred = prev if t == 0 else _logsumexp_cols(prev[:, None] + log_a)
            joint = pred + ll[t]
            top = joint.max()
            norm = float(top + np.log(np.exp(joint - top).sum()))
            total += norm
            prev = joint - norm
            alpha[t] = prev
        return np.exp(alpha), total

    def filter_probabilities(self, md: MarketData) -> pd.DataFrame:
        """Filtered regime probabilities (date × label, rows sum to 1) from the first full row.

        The filter starts at the first date where every input is known and runs over all
        later dates (training and after); a gap in the data only propagates the chain.
        """
        z = self.standardised_features(md)
        valid = z.notna().all(axis=1)
        if not valid.any():
            raise DataError("no date has every regime input; cannot filter regimes")
        z = z.loc[valid.idxmax() :]
        probs, _ = self.forward_filter(z.to_numpy(dtype=float))
        return pd.DataFrame(probs, index=z.index, columns=list(self.labels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters (no pickle), inverse of :meth:`from_dict`."""
        return {
            "format_version": _FORMAT_VERSION,
            "kind": _KIND,
            "inputs": self.inputs,
            "feature_names": list(self.feature_names),
            "labels": list(self.labels),
            "startprob": self.startprob.tolist(),
            "transmat": self.transmat.tolist(),
            "means": self.means.tolist(),
            "covars": self.covars.tolist(),
            "train_end": self.train_end,
            "change_window": self.change_window,
            "min_history": self.min_history,
            "covariance_type": self.covariance_type,
            "seed": self.seed,
            "train_loglik": self.train_loglik,
            "n_train": self.n_train,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegimeHMM:
        """Rebuild from :meth:`to_dict` output; rejects other formats with a ModelError."""
        if d.get("kind") != _KIND or d.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"not a regime HMM artefact (kind={d.get('kind')!r}, "
                f"format_version={d.get('format_version')!r})"
            )
        try:
            m = cls(
                inputs=str(d["inputs"]),
                feature_names=list(d["feature_names"]),
                labels=list(d["labels"]),
                startprob=np.asarray(d["startprob"], dtype=float),
                transmat=np.asarray(d["transmat"], dtype=float),
                means=np.asarray(d["means"], dtype=float),
                covars=np.asarray(d["covars"], dtype=float),
                train_end=str(d["train_end"]),
                change_window=int(d["change_window"]),
                min_history=int(d["min_history"]),
                covariance_type=str(d["covariance_type"]),
                seed=int(d["seed"]),
                train_loglik=float(d["train_loglik"]),
                n_train=int(d["n_train"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"corrupt regime HMM artefact: {exc!r}") from exc
        k, p = len(m.labels), len(m.feature_names)
        if m.transmat.shape != (k, k) or m.means.shape != (k, p) or m.covars.shape != (k, p, p):
            raise ModelError(f"regime HMM artefact has inconsistent shapes for K={k}, p={p}")
        return m


def _train_matrix(
    md: MarketData, cut: pd.Timestamp, features: list[str], change_window: int, min_history: int
) -> pd.DataFrame:
    """Complete expanding-z rows of ``features`` dated ≤ ``cut`` (built from data known by then)."""
    z = expanding_zscore(regime_features(md.until(cut), change_window), min_history)
    missing = [c for c in features if c not in z.columns]
    if missing:
        raise DataError(f"regime inputs {missing} cannot be built from this MarketData")
    return z.loc[:, features].dropna()


def fit_regime_hmm(
    md: MarketData,
    train_end: str | pd.Timestamp = TRAIN_END,
    n_states: int = 4,
    inputs: str | None = None,
    seed: int = 0,
    covariance_type: str = "full",
    n_init: int = 3,
    n_iter: int = 200,
    change_window: int = CHANGE_WINDOW,
    min_history: int = MIN_HISTORY,
) -> RegimeHMM:
    """Fit a Gaussian HMM on the ``inputs`` set (a :func:`candidate_inputs` key) dated ≤ train_end.

    ``inputs=None`` takes the first ``vol+<spread>`` set. ``n_init`` EM restarts (seeds
    ``seed``, ``seed+1``, ...) keep the best train log-likelihood; deterministic given ``seed``.
    """
    from hmmlearn.hmm import GaussianHMM

    if covariance_type not in ("full", "diag"):
        raise ConfigError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
    labels = state_labels(n_states)
    cut = pd.Timestamp(train_end)
    sets = candidate_inputs(md.until(cut), change_window)
    name = inputs if inputs is not None else next(iter(sets))
    if name not in sets:
        raise ConfigError(f"unknown regime input set {name!r}; choose from {sorted(sets)}")
    feats = _train_matrix(md, cut, sets[name], change_window, min_history)
    if len(feats) < 50 * n_states:
        raise DataError(
            f"only {len(feats)} complete regime rows up to {cut.date()}; need ≥ {50 * n_states}"
        )
    z = feats.to_numpy()
    best, best_ll = None, -np.inf
    for i in range(max(1, n_init)):
        m = GaussianHMM(
            n_components=n_states,
            covariance_type=covariance_type,
            n_iter=n_iter,
            tol=1e-4,
            random_state=seed + i,
        )
        m.fit(z)
        ll = float(m.score(z))
        if np.isfinite(ll) and ll > best_ll:
            best, best_ll = m, ll
    if best is None:
        raise ModelError(f"regime HMM did not fit (K={n_states}, {covariance_type}, seed={seed})")
    order = np.argsort(best.means_[:, 0], kind="stable")  # column 0 is log VIX
    return RegimeHMM(
        inputs=name,
        feature_names=list(feats.columns),
        labels=list(labels),
        startprob=np.asarray(best.startprob_)[order],
        transmat=np.asarray(best.transmat_)[np.ix_(order, order)],
        means=np.asarray(best.means_)[order],
        covars=np.asarray(best.covars_, dtype=float)[order],  # hmmlearn returns full matrices
        train_end=str(cut.date()),
        change_window=change_window,
        min_history=min_history,
        covariance_type=covariance_type,
        seed=seed,
        train_loglik=best_ll,
        n_train=len(feats),
    )


def selection_criteria(model: RegimeHMM, md: MarketData) -> dict[str, float]:
    """BIC, shortest expected duration, mean filtered spell and next-month-vol η² (≤ train_end)."""
    cut = pd.Timestamp(model.train_end)
    md_train = md.until(cut)
    probs = model.filter_probabilities(md_train)
    dominant = probs.idxmax(axis=1)
    spells = dominant.groupby(dominant.ne(dominant.shift()).cumsum()).size()
    # the target looks 21 days ahead: only dates whose whole next month is ≤ train_end count
    y = next_month_log_vol(md_train)
    return {
        "bic": model.bic,
        "min_expected_days": float(model.expected_durations.min()),
        "mean_spell_days": float(spells.mean()),
        "eta2_next_month_vol": separation_eta2(dominant, y),
    }


def select_regime_reference(
    md: MarketData,
    train_end: str | pd.Timestamp = TRAIN_END,
    state_grid: tuple[int, ...] = STATE_GRID,
    min_duration: float = MIN_DURATION_DAYS,
    inputs: list[str] | None = None,
    seed: int = 0,
    n_init: int = 3,
) -> tuple[RegimeHMM, pd.DataFrame]:
    """Fit every (input set, K) on data ≤ ``train_end`` and pick one by the module's rule.

    Returns the chosen model and one row per candidate (criteria, ``passes`` the persistence
    gate, ``best_k`` within its input set, ``chosen``). Raises ModelError when none passes.
    """
    cut = pd.Timestamp(train_end)
    sets = candidate_inputs(md.until(cut))
    names = list(sets) if inputs is None else inputs
    rows, models = [], {}
    for name in names:
        for k in state_grid:
            m = fit_regime_hmm(md, cut, n_states=k, inputs=name, seed=seed, n_init=n_init)
            models[(name, k)] = m
            rows.append({"inputs": name, "n_states": k, **selection_criteria(m, md)})
    table = pd.DataFrame(rows)
    table["passes"] = table["min_expected_days"] >= min_duration
    table["best_k"] = False
    ok = table.loc[table["passes"]]
    if ok.empty:
        raise ModelError(
            f"no regime candidate has every state lasting ≥ {min_duration:g} days on average"
        )
    table.loc[ok.groupby("inputs")["bic"].idxmin(), "best_k"] = True
    best = table.loc[table["best_k"]]
    winner = best["eta2_next_month_vol"].idxmax()
    table["chosen"] = table.index == winner
    chosen = models[(table.at[winner, "inputs"], int(table.at[winner, "n_states"]))]
    return chosen, table
