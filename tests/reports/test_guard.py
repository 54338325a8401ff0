"""Jump guard: off by default, refuses a day that jumps without a regime change, env limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import ConfigError, PublishError
from riskalloc.reports.guard import JumpLimits, guard_publish, jump_violations, weight_jumps
from riskalloc.sources.sample import SampleSource

TICKERS = ["SPY", "TLT", "GLD", "LQD"]


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    """Real inverse-vol targets (63-day vol, 90 % invested) on the March 2020 trading days."""
    p = SampleSource().fetch_prices(TICKERS, "2019-10-01", "2020-03-31")
    wide = p.pivot(index="date", columns="ticker", values="adj_close")
    vol = wide.pct_change().rolling(63).std().loc["2020-03-02":]
    w = (1 / vol).div((1 / vol).sum(axis=1), axis=0) * 0.9
    rows = w.stack().rename("weight").reset_index()
    rows["exposure"], rows["regime"] = 0.9, "normal"
    return rows


def test_off_by_default_and_quiet_moves_pass(published: pd.DataFrame) -> None:
    assert not JumpLimits.from_env({}).enabled
    jumps = guard_publish(published, None, JumpLimits())
    assert len(jumps) == published["date"].nunique() - 1
    assert (jumps["turnover"] >= 0).all() and jumps["turnover"].max() < 0.2  # daily drift only
    guard_publish(published, None, JumpLimits(max_turnover=0.2, max_exposure_change=0.05))


def test_a_jump_without_regime_change_is_refused(published: pd.DataFrame) -> None:
    day = pd.Timestamp("2020-03-16")
    jumped = published.copy()
    on = jumped["date"] == day
    jumped.loc[on, "weight"] *= 0.4 / 0.9  # exposure 0.9 → 0.4 in one day
    jumped.loc[on, "exposure"] = 0.4
    limits = JumpLimits(max_exposure_change=0.2)
    with pytest.raises(PublishError, match=r"refusing to publish 2020-03-16.*still normal"):
        guard_publish(jumped, None, limits)
    jumps = weight_jumps(jumped)
    row = jumps.set_index("date").loc[day]
    assert row["exposure_change"] == pytest.approx(0.5)
    assert row["turnover"] == pytest.approx(1.0, abs=0.05)  # 0.5 out of assets + 0.5 into cash
    # the same move with a regime change (allocator or reference) is published
    jumped.loc[on, "regime"] = "stress"
    assert jump_violations(weight_jumps(jumped), limits).empty
    ref = pd.Series("normal", index=pd.DatetimeIndex(published["date"].unique()))
    ref.loc[day] = "stress"  # in on the 16th, out on the 17th: both moves have a reason
    calm = jumped.assign(regime="normal")
    assert jump_violations(weight_jumps(calm, reference=ref), limits).empty


def test_first_day_compares_with_the_previous_published_day(published: pd.DataFrame) -> None:
    days = sorted(published["date"].unique())
    prev = published.loc[published["date"] == days[0]]
    new = published.loc[published["date"] == days[1]]
    jumps = weight_jumps(new, prev)
    assert list(jumps["date"]) == [days[1]] and jumps["prev_date"].iloc[0] == days[0]
    a = prev.set_index("ticker")["weight"]
    b = new.set_index("ticker")["weight"]
    assert jumps["turnover"].iloc[0] == pytest.approx(float(np.abs(a - b).sum()), abs=1e-12)


def test_limits_from_the_environment() -> None:
    lim = JumpLimits.from_env({"RISKALLOC_MAX_TURNOVER": "0.5", "RISKALLOC_MAX_EXPOSURE_JUMP": ""})
    assert lim == JumpLimits(max_turnover=0.5) and lim.enabled
    with pytest.raises(ConfigError, match="RISKALLOC_MAX_TURNOVER must be a number"):
        JumpLimits.from_env({"RISKALLOC_MAX_TURNOVER": "half"})
    with pytest.raises(ConfigError, match="> 0"):
        JumpLimits.from_env({"RISKALLOC_MAX_EXPOSURE_JUMP": "-1"})
