"""Regime HMM: filtered (not smoothed) probabilities, state order, determinism, round trip."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.allocate.hmm_reference import (
    RegimeHMM,
    fit_regime_hmm,
    regime_features,
    state_labels,
)
from riskalloc.errors import ConfigError, ModelError
from riskalloc.market import MarketData


@pytest.fixture(scope="module")
def md() -> MarketData:
    return MarketData.sample()


@pytest.fixture(scope="module")
def model(md: MarketData) -> RegimeHMM:
    # Default settings (3 states, full covariance, trained to 2016-12-31). The default fit
    # (n_init=3 from seed 0) keeps its seed-2 restart; fitting that restart alone gives the
    # identical parameters at a third of the cost on this shared 2-core machine.
    return fit_regime_hmm(md, n_init=1, seed=2)


@pytest.fixture(scope="module")
def probs(model: RegimeHMM, md: MarketData) -> pd.DataFrame:
    return model.filter_probabilities(md)


def test_probabilities_are_a_distribution_per_date(probs: pd.DataFrame) -> None:
    assert list(probs.columns) == ["calm", "normal", "stress"]
    assert probs.index.min() < pd.Timestamp("2000-03-01")  # filter starts after 21-day warm-up
    assert probs.index.max() == pd.Timestamp("2022-12-30")
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert ((probs >= 0) & (probs <= 1)).all().all()


def test_no_look_ahead_when_later_data_changes(model: RegimeHMM, md: MarketData) -> None:
    t = pd.Timestamp("2019-06-28")
    full = model.filter_probabilities(md)
    cut = model.filter_probabilities(md.until(t))
    pd.testing.assert_frame_equal(cut, full.loc[:t])
    macro = md.macro.copy()
    later = macro["available_at"] > t
    macro.loc[later, "value"] = macro.loc[later, "value"] * 3.0 + 1.0  # wild future values
    changed = model.filter_probabilities(replace(md, macro=macro))
    pd.testing.assert_frame_equal(changed.loc[:t], full.loc[:t])
    assert not np.allclose(changed.loc["2020"].to_numpy(), full.loc["2020"].to_numpy())


def test_filter_matches_hmmlearn_likelihood_and_last_posterior(
    model: RegimeHMM, md: MarketData
) -> None:
    from hmmlearn.hmm import GaussianHMM

    z = model.standardised_features(md).dropna().loc[:"2016-12-31"].to_numpy()
    ref = GaussianHMM(n_components=model.n_states, covariance_type="full")
    ref.n_features = z.shape[1]
    ref.startprob_, ref.transmat_ = model.startprob, model.transmat
    ref.means_, ref.covars_ = model.means, model.covars
    filtered, loglik = model.forward_filter(z)
    assert loglik == pytest.approx(ref.score(z), rel=1e-9)
    smoothed = ref.predict_proba(z)
    # at the last observation filtered == smoothed; earlier, smoothing would use the future
    assert np.allclose(filtered[-1], smoothed[-1], atol=1e-8)
    assert np.abs(filtered[:-1] - smoothed[:-1]).max() > 0.1


def test_missing_observation_only_propagates_the_chain(model: RegimeHMM, md: MarketData) -> None:
    z = model.standardised_features(md).dropna().iloc[:300].to_numpy().copy()
    z[150] = np.nan
    filtered, _ = model.forward_filter(z)
    assert np.allclose(filtered[150], filtered[149] @ model.transmat)


def test_stress_state_has_highest_vix_and_dominates_crises(
    model: RegimeHMM, md: MarketData, probs: pd.DataFrame
) -> None:
    vix_col = model.feature_names.index("log_VIXCLS")
    assert np.all(np.diff(model.means[:, vix_col]) > 0)  # calm < normal < stress
    vix = md.macro_asof("VIXCLS").reindex(probs.index)
    by_state = vix.groupby(probs.idxmax(axis=1)).mean()
    assert by_state.idxmax() == "stress"
    assert probs.loc["2008-10-01":"2008-12-31", "stress"].mean() > 0.8
    assert probs.loc["2020-03-09":"2020-04-09", "stress"].mean() > 0.8
    assert probs.loc["2017-01-01":"2017-12-31", "stress"].mean() < 0.2


def test_fit_is_deterministic_and_ignores_data_after_train_end(md: MarketData) -> None:
    kw = {"train_end": "2005-12-30", "n_states": 2, "covariance_type": "diag", "n_init": 1}
    a = fit_regime_hmm(md, seed=3, **kw)  # full history: must ignore everything after 2005
    c = fit_regime_hmm(md.until("2005-12-30"), seed=3, **kw)
    assert a.to_dict() == c.to_dict()  # two separate fits agree exactly: deterministic too
    assert a.labels == ["calm", "stress"]
    assert a.n_parameters == 1 + 2 + 2 * 10 + 2 * 10  # start, transitions, means, diag covs
    assert a.bic == pytest.approx(-2 * a.train_loglik + 43 * np.log(a.n_train))
    assert a.n_train == len(regime_features(md).dropna().loc[:"2005-12-30"])


def test_json_round_trip_gives_identical_probabilities(
    model: RegimeHMM, md: MarketData, probs: pd.DataFrame
) -> None:
    back = RegimeHMM.from_dict(json.loads(json.dumps(model.to_dict())))
    pd.testing.assert_frame_equal(back.filter_probabilities(md), probs)
    with pytest.raises(ModelError, match="not a regime HMM"):
        RegimeHMM.from_dict({"kind": "pickle"})
    bad = model.to_dict() | {"transmat": [[1.0]]}
    with pytest.raises(ModelError, match="inconsistent shapes"):
        RegimeHMM.from_dict(bad)


def test_state_labels_and_bad_config(md: MarketData) -> None:
    assert state_labels(4) == ("calm", "normal", "elevated", "stress")
    assert state_labels(5)[0] == "calm" and state_labels(5)[-1] == "stress"
    with pytest.raises(ConfigError):
        state_labels(1)
    with pytest.raises(ConfigError, match="covariance_type"):
        fit_regime_hmm(md, covariance_type="spherical")
