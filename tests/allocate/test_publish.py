"""Publishing gate and model choice for daily target weights."""

from __future__ import annotations

import pandas as pd
import pytest

from riskalloc.allocate.daily import pick_model
from riskalloc.allocate.publish import validate_target_weights
from riskalloc.errors import PublishError

UNIVERSE = ["SPY", "TLT", "GLD"]


def _valid() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2021-03-01"),
            "ticker": UNIVERSE,
            "weight": [0.3, 0.4, 0.2],
            "risk_budget": [0.5, 0.3, 0.2],
            "risk_contribution": [0.5, 0.3, 0.2],
            "exposure": 0.9,
            "regime": 1,
            "model_version": "allocator-x",
        }
    )


def test_valid_weights_pass():
    validate_target_weights(_valid(), UNIVERSE)


def test_levered_weights_pass_only_under_the_designs_cap():
    levered = _valid().assign(exposure=1.2, weight=[0.4, 0.4, 0.4])
    validate_target_weights(levered, UNIVERSE, max_exposure=1.5)
    with pytest.raises(PublishError, match=r"exposure 1.200000 outside \[0, 1.1\]"):
        validate_target_weights(levered, UNIVERSE, max_exposure=1.1)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d.assign(weight=[-0.1, 0.6, 0.4]), "negative weight -0.1 for SPY on 2021-03-01"),
        (lambda d: d.assign(weight=[0.3, 0.4, 0.1]), "weights sum to 0.800000 but exposure"),
        (lambda d: d.assign(exposure=1.2, weight=[0.4, 0.4, 0.4]), "exposure 1.200000 outside"),
        (lambda d: d.assign(risk_contribution=[0.45, 0.35, 0.2]), "risk contribution of SPY"),
        (lambda d: d.assign(ticker=["SPY", "TLT", "XXX"]), r"outside the universe: \['XXX'\]"),
        (lambda d: d.assign(weight=[float("nan"), 0.4, 0.2]), "non-finite value for SPY"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "duplicate weight for SPY"),
        (lambda d: d.drop(columns="exposure"), "lack columns"),
    ],
)
def test_invalid_weights_are_refused_with_the_reason(mutate, pattern):
    with pytest.raises(PublishError, match=pattern):
        validate_target_weights(mutate(_valid()), UNIVERSE)


def test_pick_model_never_uses_a_model_that_saw_the_date():
    reg = pd.DataFrame(
        {
            "version": ["f2017", "f2018", "prod"],
            "kind": "allocator",
            "train_end": pd.to_datetime(["2016-12-30", "2017-12-29", "2022-12-30"]),
            "trained_at": pd.Timestamp("2026-01-01"),
        }
    )
    assert pick_model(reg, pd.Timestamp("2016-06-01")) is None
    assert pick_model(reg, pd.Timestamp("2017-12-29")) == "f2017"
    assert pick_model(reg, pd.Timestamp("2018-01-02")) == "f2018"
    assert pick_model(reg, pd.Timestamp("2022-12-30")) == "f2018"
    assert pick_model(reg, pd.Timestamp("2023-01-03")) == "prod"
