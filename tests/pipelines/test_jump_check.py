"""The jump-guard asset check: off by default, fails on the latest day's unexplained jump."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.checks import target_weights_no_unexplained_jump
from pipelines.resources import WarehouseResource
from riskalloc.sources.sample import SampleSource
from riskalloc.warehouse.store import Warehouse, upsert

TICKERS = ["SPY", "TLT", "GLD"]


def _published(last_exposure: float) -> pd.DataFrame:
    """Real inverse-vol targets on 2020-03-13 and 03-16; the second day scaled to an exposure."""
    p = SampleSource().fetch_prices(TICKERS, "2019-11-01", "2020-03-16")
    wide = p.pivot(index="date", columns="ticker", values="adj_close")
    vol = wide.pct_change().rolling(63).std().loc["2020-03-13":]
    w = (1 / vol).div((1 / vol).sum(axis=1), axis=0) * 0.9
    w.iloc[-1] *= last_exposure / 0.9
    rows = w.stack().rename("weight").reset_index()
    rows["exposure"] = rows.groupby("date")["weight"].transform("sum")
    rows["regime"] = "normal"
    return rows


@pytest.mark.parametrize(
    ("limit", "exposure", "passed"), [(None, 0.3, True), ("0.2", 0.85, True), ("0.2", 0.3, False)]
)
def test_check_reads_the_limits_from_the_environment(
    tmp_path, monkeypatch, limit: str | None, exposure: float, passed: bool
) -> None:
    wh = Warehouse(tmp_path / "wh")
    with wh.connect() as con:
        upsert(wh, con, "target_weights", _published(exposure))
    if limit is None:
        monkeypatch.delenv("RISKALLOC_MAX_EXPOSURE_JUMP", raising=False)
    else:
        monkeypatch.setenv("RISKALLOC_MAX_EXPOSURE_JUMP", limit)
    monkeypatch.delenv("RISKALLOC_MAX_TURNOVER", raising=False)
    result = target_weights_no_unexplained_jump(
        warehouse=WarehouseResource(database=str(wh.db_path))
    )
    assert result.passed is passed
    message = result.metadata["message"].value
    assert ("off" in message) if limit is None else ("exposure_change" in message or passed)
