"""A transparent regime reference: a Gaussian HMM on point-in-time macro stress indicators.

The HMM is fitted on pre-``train_end`` data only. Probabilities are *filtered*
(forward algorithm, p(state_t | obs_1..t)), never smoothed, so a date's regime never
depends on later data. States are ordered and labelled by their mean (log) VIX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, DataError, ModelError
from riskalloc.market import MarketData

REGIME_ROLES = ("volatility_expectation", "credit_spread", "curve_slope")
CHANGE_WINDOW = 21
_LABELS = {
    2: ("calm", "stress"),
    3: ("calm", "normal", "stress"),
    4: ("calm", "normal", "elevated", "stress"),
}
_FORMAT_VERSION = 1


def _logsumexp_cols(x: np.ndarray) -> np.ndarray:
    """log(sum(exp(x), axis=0)) for a small matrix whose columns each hold a finite entry."""
    top = x.max(axis=0)
    return top + np.log(np.exp(x - top).sum(axis=0))


def state_labels(n_states: int) -> tuple[str, ...]:
    """Labels from calmest to most stressed: calm, normal, (elevated,) stress; generic beyond 4."""
    if n_states < 2:
        raise ConfigError(f"a regime HMM needs at least 2 states, got n_states={n_states}")
    if n_states in _LABELS:
        return _LABELS[n_states]
    return ("calm", *(f"regime_{i}" for i in range(1, n_states - 1)), "stress")


def regime_series(md: MarketData) -> list[str]:
    """Macro series feeding the HMM, in role order (VIX, credit spreads, curve slopes)."""
    present = set(md.macro["series_id"])
    out = [
        s for role in REGIME_ROLES for s, r in md.series_roles.items() if r == role and s in present
    ]
    vol = [s for s in out if md.series_roles[s] == "volatility_expectation"]
    if not vol:
        raise DataError(
            "regime HMM needs a 'volatility_expectation' series (e.g. VIXCLS) in the macro data; "
            f"roles present: {sorted(set(md.series_roles.values()))}"
        )
    return out


def regime_features(
    md: MarketData, series: list[str] | None = None, change_window: int = CHANGE_WINDOW
) -> pd.DataFrame:
    """Point-in-time indicator levels (VIX in logs) and their ``change_window``-day changes.

    Built from ``md.macro_asof`` so each row only uses values available by that date;
    leading rows without full history are NaN.
    """
    series = series if series is not None else regime_series(md)
    levels = {}
    for s in series:
        x = md.macro_asof(s).astype(float)
        if md.series_roles.get(s) == "volatility_expectation":
            if (x.dropna() <= 0).any():
                raise DataError(f"volatility series {s!r} has values <= 0; cannot take logs")
            x = np.log(x)
            levels[f"log_{s}"] = x
        else:
            levels[s] = x
    lv = pd.DataFrame(levels, index=md.dates)
    ch = lv.diff(change_window).add_prefix(f"d{change_window}_")
    out = pd.concat([lv, ch], axis=1)
    out.index.name = "date"
    return out


@dataclass
class RegimeHMM:
    """A fitted Gaussian HMM with states sorted calm → stress; filters without look-ahead."""

    series: list[str]
    feature_names: list[str]
    labels: list[str]
    mean_: np.ndarray  # (p,) train-window feature means (standardisation)
    scale_: np.ndarray  # (p,) train-window feature std devs
    startprob: np.ndarray  # (K,)
    transmat: np.ndarray  # (K, K), rows sum to 1
    means: np.ndarray  # (K, p) in standardised units
    covars: np.ndarray  # (K, p, p) full covariances in standardised units
    train_end: str
    change_window: int = CHANGE_WINDOW
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

    def standardised_features(self, md: MarketData) -> pd.DataFrame:
        """The HMM's inputs on ``md``'s dates, scaled by train-window mean and std."""
        f = regime_features(md, self.series, self.change_window)
        missing = [c for c in self.feature_names if c not in f.columns]
        if missing:
            raise DataError(f"regime features {missing} cannot be built from this MarketData")
        return (f.loc[:, self.feature_names] - self.mean_) / self.scale_

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

        The filter starts at the first date where every indicator is known and runs over all
        later dates (training and after); a gap in the data only propagates the chain.
        """
        z = self.standardised_features(md)
        valid = z.notna().all(axis=1)
        if not valid.any():
            raise DataError("no date has every regime indicator; cannot filter regimes")
        z = z.loc[valid.idxmax() :]
        probs, _ = self.forward_filter(z.to_numpy(dtype=float))
        return pd.DataFrame(probs, index=z.index, columns=list(self.labels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters (no pickle), inverse of :meth:`from_dict`."""
        return {
            "format_version": _FORMAT_VERSION,
            "kind": "gaussian_hmm_regime_reference",
            "series": list(self.series),
            "feature_names": list(self.feature_names),
            "labels": list(self.labels),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "startprob": self.startprob.tolist(),
            "transmat": self.transmat.tolist(),
            "means": self.means.tolist(),
            "covars": self.covars.tolist(),
            "train_end": self.train_end,
            "change_window": self.change_window,
            "covariance_type": self.covariance_type,
            "seed": self.seed,
            "train_loglik": self.train_loglik,
            "n_train": self.n_train,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegimeHMM:
        """Rebuild from :meth:`to_dict` output; rejects other formats with a ModelError."""
        if d.get("kind") != "gaussian_hmm_regime_reference" or d.get("format_version") != 1:
            raise ModelError(
                f"not a regime HMM artefact (kind={d.get('kind')!r}, "
                f"format_version={d.get('format_version')!r})"
            )
        try:
            m = cls(
                series=list(d["series"]),
                feature_names=list(d["feature_names"]),
                labels=list(d["labels"]),
                mean_=np.asarray(d["mean"], dtype=float),
                scale_=np.asarray(d["scale"], dtype=float),
                startprob=np.asarray(d["startprob"], dtype=float),
                transmat=np.asarray(d["transmat"], dtype=float),
                means=np.asarray(d["means"], dtype=float),
                covars=np.asarray(d["covars"], dtype=float),
                train_end=str(d["train_end"]),
                change_window=int(d["change_window"]),
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


def _full_covars(model: Any) -> np.ndarray:
    """hmmlearn covariances as (K, p, p) full matrices whatever the covariance type."""
    return np.asarray(model.covars_, dtype=float)  # hmmlearn's property always returns full


def fit_regime_hmm(
    md: MarketData,
    train_end: str | pd.Timestamp = "2016-12-31",
    n_states: int = 3,
    seed: int = 0,
    covariance_type: str = "full",
    n_init: int = 3,
    n_iter: int = 200,
    change_window: int = CHANGE_WINDOW,
) -> RegimeHMM:
    """Fit a Gaussian HMM on indicators dated ≤ ``train_end``; states sorted by mean VIX.

    ``n_init`` EM restarts (seeds ``seed``, ``seed+1``, ...) keep the best train log-likelihood,
    so a bad start does not decide the regimes; everything is deterministic given ``seed``.
    """
    from hmmlearn.hmm import GaussianHMM

    if covariance_type not in ("full", "diag"):
        raise ConfigError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")
    labels = state_labels(n_states)
    cut = pd.Timestamp(train_end)
    md_train = md.until(cut)  # point-in-time: no macro value published after train_end
    series = regime_series(md_train)
    feats = regime_features(md_train, series, change_window).dropna()
    if len(feats) < 50 * n_states:
        raise DataError(
            f"only {len(feats)} complete regime rows up to {cut.date()}; need ≥ {50 * n_states}"
        )
    mean, scale = feats.mean().to_numpy(), feats.std(ddof=0).to_numpy()
    if (scale <= 0).any():
        flat = list(feats.columns[scale <= 0])
        raise DataError(f"regime features {flat} are constant up to {cut.date()}")
    z = ((feats - mean) / scale).to_numpy()

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

    vix_col = next(i for i, c in enumerate(feats.columns) if c.startswith("log_"))
    order = np.argsort(best.means_[:, vix_col], kind="stable")
    return RegimeHMM(
        series=series,
        feature_names=list(feats.columns),
        labels=list(labels),
        mean_=mean,
        scale_=scale,
        startprob=np.asarray(best.startprob_)[order],
        transmat=np.asarray(best.transmat_)[np.ix_(order, order)],
        means=np.asarray(best.means_)[order],
        covars=_full_covars(best)[order],
        train_end=str(cut.date()),
        change_window=change_window,
        covariance_type=covariance_type,
        seed=seed,
        train_loglik=best_ll,
        n_train=len(feats),
    )
