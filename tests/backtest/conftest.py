"""Shared data for the backtest tests: the bundled sample (loaded once) and tiny markets."""

from __future__ import annotations

import pandas as pd
import pytest

from riskalloc.market import MarketData


@pytest.fixture(scope="session")
def sample_md() -> MarketData:
    return MarketData.sample()


def _toy(prices: dict[str, list[float]], dates: list[str], rf_pct: float) -> MarketData:
    idx = pd.DatetimeIndex(pd.to_datetime(dates), name="date")
    macro = pd.DataFrame(
        {
            "date": [idx[0] - pd.Timedelta(days=1)],
            "series_id": ["DTB3"],
            "value": [rf_pct],
            "available_at": [idx[0]],
        }
    )
    return MarketData(
        prices=pd.DataFrame(prices, index=idx),
        macro=macro,
        asset_classes={t: "equity" for t in prices},
        risk_free="DTB3",
    )


@pytest.fixture
def toy() -> type:
    """Builder of hand-made markets (tests cannot import conftest under importlib mode)."""

    class Toy:
        build = staticmethod(_toy)

    return Toy
