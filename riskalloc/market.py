"""One in-memory view of the market every stage reads: prices, macro, universe roles.

``MarketData.until(t)`` is the point-in-time cut used by walk-forward code: it keeps prices
up to and including ``t`` and only macro values already *available* at ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import pandas as pd

from riskalloc.errors import DataError
from riskalloc.sources.schema import macro_from_wide, to_wide
from riskalloc.universe import Universe, load_universe

if TYPE_CHECKING:
    import duckdb

TRADING_DAYS = 252


@dataclass(frozen=True)
class MarketData:
    """Wide adjusted closes, long macro rows with ``available_at``, and the universe's roles."""

    prices: pd.DataFrame  # index: DatetimeIndex (trading days, ascending); columns: tickers
    macro: pd.DataFrame  # long: date, series_id, value, available_at
    asset_classes: dict[str, str] = field(default_factory=dict)
    cash: str | None = None
    risk_free: str | None = None
    equity_proxy: str | None = None
    series_roles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.prices.index, pd.DatetimeIndex):
            raise DataError("MarketData.prices needs a DatetimeIndex")
        if not self.prices.index.is_monotonic_increasing or self.prices.index.has_duplicates:
            raise DataError("MarketData.prices index must be strictly increasing dates")
        missing = {"date", "series_id", "value", "available_at"} - set(self.macro.columns)
        if missing:
            raise DataError(f"MarketData.macro lacks columns {sorted(missing)}")

    # --- constructors -------------------------------------------------------------------
    @classmethod
    def from_long(cls, prices: pd.DataFrame, macro: pd.DataFrame, universe: Universe) -> MarketData:
        """Build from long warehouse frames (``prices``, ``macro`` tables) and a universe."""
        wide = to_wide(prices, "adj_close")
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
        keep = [t for t in universe.tickers if t in wide.columns]
        m = macro.loc[:, ["date", "series_id", "value", "available_at"]].copy()
        m["date"] = pd.to_datetime(m["date"])
        m["available_at"] = pd.to_datetime(m["available_at"])
        return cls(
            prices=wide.loc[:, keep],
            macro=m.sort_values(["series_id", "date"]).reset_index(drop=True),
            asset_classes={t: c for t, c in universe.asset_classes().items() if t in keep},
            cash=universe.cash if universe.cash in keep else None,
            risk_free=universe.risk_free_rate,
            equity_proxy=universe.equity_proxy if universe.equity_proxy in keep else None,
            series_roles={s.series_id: s.role for s in universe.series},
        )

    @classmethod
    def from_wide(
        cls,
        prices: pd.DataFrame,
        macro: pd.DataFrame | None = None,
        universe: Universe | None = None,
    ) -> MarketData:
        """Build from wide prices (date x ticker) and optional wide FRED values (date x series).

        Roles come from ``universe`` (default: the bundled one) for the tickers and series it
        knows; other tickers are of class ``other``. A macro value dated d becomes available
        on the next business day, as in the warehouse.
        """
        u = universe or load_universe()
        wide = prices.astype(float).copy()
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
        wide.columns = [str(c) for c in wide.columns]
        if macro is None or macro.empty:
            m = pd.DataFrame(columns=["date", "series_id", "value", "available_at"])
            m = m.astype(
                {"value": float, "date": "datetime64[ns]", "available_at": "datetime64[ns]"}
            )
        else:
            m = macro_from_wide(macro, "user").loc[
                :, ["date", "series_id", "value", "available_at"]
            ]
            m["date"] = pd.to_datetime(m["date"])
            m["available_at"] = pd.to_datetime(m["available_at"])
        classes = u.asset_classes()
        tickers = list(wide.columns)
        has_rf = u.risk_free_rate is not None and (m["series_id"] == u.risk_free_rate).any()
        return cls(
            prices=wide.sort_index(),
            macro=m.sort_values(["series_id", "date"]).reset_index(drop=True),
            asset_classes={t: classes.get(t, "other") for t in tickers},
            cash=u.cash if u.cash in tickers else None,
            risk_free=u.risk_free_rate if has_rf else None,
            equity_proxy=u.equity_proxy if u.equity_proxy in tickers else None,
            series_roles={s.series_id: s.role for s in u.series},
        )

    @classmethod
    def sample(cls, universe: Universe | None = None) -> MarketData:
        """The bundled real snapshot (no warehouse needed): handy for tests and scripts."""
        from riskalloc.sources.sample import SampleSource

        u = universe or load_universe()
        src = SampleSource()
        return cls.from_long(src.fetch_prices(u.tickers), src.fetch_macro(u.series_ids), u)

    # --- views ----------------------------------------------------------------------------
    @property
    def tickers(self) -> list[str]:
        """Column order of every wide frame."""
        return list(self.prices.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """Trading days."""
        return pd.DatetimeIndex(self.prices.index)

    def returns(self) -> pd.DataFrame:
        """Simple daily returns; NaN before an asset's first price (no back-fill)."""
        return self.prices.pct_change(fill_method=None)

    def macro_asof(self, series_id: str) -> pd.Series:
        """A series on the trading-day index, each day holding the last value *available* by then.

        A FRED value for day d becomes usable on its ``available_at`` (the next business day),
        so the value at t never depends on anything published after t.
        """
        rows = self.macro.loc[self.macro["series_id"] == series_id]
        if rows.empty:
            raise DataError(f"macro series {series_id!r} is not in the data")
        s = rows.sort_values("date").groupby("available_at")["value"].last()
        return s.reindex(self.dates.union(s.index)).ffill().reindex(self.dates).rename(series_id)

    def rf_daily(self) -> pd.Series:
        """Daily risk-free return, point in time (DTB3 in % a year / 252); zero when absent."""
        if self.risk_free is None or not (self.macro["series_id"] == self.risk_free).any():
            return pd.Series(0.0, index=self.dates, name="rf")
        r = self.macro_asof(self.risk_free).ffill().fillna(0.0) / 100.0 / TRADING_DAYS
        return r.rename("rf")

    def until(self, t: str | pd.Timestamp) -> MarketData:
        """Everything known at the close of ``t``: prices dated ≤ t, macro available ≤ t."""
        ts = pd.Timestamp(t)
        n = int(self.prices.index.searchsorted(ts, side="right"))  # the index is increasing
        return replace(
            self,
            prices=self.prices.iloc[:n],
            macro=self.macro.loc[self.macro["available_at"] <= ts].reset_index(drop=True),
        )

    def select(self, tickers: list[str]) -> MarketData:
        """The same data restricted to ``tickers`` (order kept)."""
        unknown = sorted(set(tickers) - set(self.tickers))
        if unknown:
            raise DataError(f"unknown tickers {unknown}")
        return replace(
            self,
            prices=self.prices.loc[:, tickers],
            asset_classes={t: self.asset_classes.get(t, "other") for t in tickers},
            cash=self.cash if self.cash in tickers else None,
            equity_proxy=self.equity_proxy if self.equity_proxy in tickers else None,
        )


class _Cuttable(Protocol):
    """Time-indexed data that can cut itself at a date (e.g. ``AllocatorData``)."""

    dates: pd.DatetimeIndex

    def until(self, t: pd.Timestamp) -> _Cuttable: ...


T = TypeVar("T", pd.DataFrame, _Cuttable)


class PointInTime(Generic[T]):
    """Time-indexed data a strategy is given up front (out-of-sample forecasts, inputs built
    once on the whole history), readable only as of the market view the walk-forward hands it.

    The walk-forward shows a strategy ``md.until(d)`` at each decision date d; holding its other
    inputs as ``PointInTime`` and reading them with :meth:`as_of` (the rows dated ≤ that view's
    last date) makes the interface, not a test, the guarantee that nothing after d is read (as
    cvxportfolio's data estimators do with user-provided frames).
    """

    __slots__ = ("_data",)

    def __init__(self, data: T) -> None:
        if isinstance(data, PointInTime):
            data = data._data
        if isinstance(data, pd.DataFrame) and not isinstance(data.index, pd.DatetimeIndex):
            raise DataError("PointInTime needs a DataFrame with a DatetimeIndex")
        self._data = data

    @property
    def last_date(self) -> pd.Timestamp:
        """The newest date the data holds."""
        d = self._data
        return pd.Timestamp(d.index[-1] if isinstance(d, pd.DataFrame) else d.dates[-1])

    def as_of(self, md: MarketData) -> T:
        """The rows known at the close of ``md``'s last date."""
        t = md.dates[-1]
        d = self._data
        return d.loc[d.index <= t] if isinstance(d, pd.DataFrame) else d.until(t)

    def __repr__(self) -> str:
        return f"PointInTime({type(self._data).__name__} up to {self.last_date.date()})"


def point_in_time(data: T | PointInTime[T] | None) -> PointInTime[T] | None:
    """``data`` wrapped as :class:`PointInTime` (None stays None)."""
    return None if data is None else PointInTime(data)


def risky_tickers(md: MarketData, exclude_cash: bool = True) -> list[str]:
    """Tickers a strategy spreads risk over: all but the cash ETF (cash earns the risk-free
    rate on the uninvested part), unless ``exclude_cash`` is False."""
    return [t for t in md.tickers if not (exclude_cash and t == md.cash)]


def load_market_data(
    con: duckdb.DuckDBPyConnection, universe: Universe, end: str | pd.Timestamp | None = None
) -> MarketData:
    """The warehouse's ``prices`` and ``macro`` rows of the universe as one :class:`MarketData`,
    cut at ``end`` (point in time)."""
    from riskalloc.warehouse.reads import read_table

    prices = read_table(con, "prices", where={"ticker": universe.tickers})
    macro = read_table(con, "macro", where={"series_id": universe.series_ids})
    if prices.empty:
        raise DataError("the warehouse has no prices for the universe; run the ingest first")
    md = MarketData.from_long(prices, macro, universe)
    return md if end is None else md.until(end)
