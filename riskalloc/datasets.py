"""The bundled real data as pandas objects, in the manner of ``skfolio.datasets``.

Everything here reads the snapshot shipped in ``riskalloc/sources/data`` (35 ETFs 2000-2022,
14 FRED series 1990-2022; provenance and terms in its README): no network, no warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from riskalloc.errors import DataError
from riskalloc.sources.sample import sample_macro_wide, sample_prices_wide
from riskalloc.synthetic import SyntheticUniverse, make_synthetic_universe
from riskalloc.universe import Universe
from riskalloc.universe import load_universe as _load_universe_config

__all__ = [
    "SyntheticUniverse",
    "load_etf_prices",
    "load_fred_macro",
    "load_universe",
    "load_universe_config",
    "make_synthetic_universe",  # any-size universe calibrated on these ETFs (scale tests)
]


def _window(
    wide: pd.DataFrame, names: Sequence[str] | None, start: str | None, end: str | None
) -> pd.DataFrame:
    """Columns ``names`` (unknown ones refused by name) between ``start`` and ``end``."""
    if names is not None:
        unknown = [n for n in names if n not in wide.columns]
        if unknown:
            raise DataError(f"unknown {unknown}; the bundled data has {list(wide.columns)}")
        wide = wide.loc[:, list(names)]
    lo = pd.Timestamp(start) if start else None
    hi = pd.Timestamp(end) if end else None
    out = wide.loc[lo:hi]
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out


def load_etf_prices(
    tickers: Sequence[str] | None = None, start: str | None = None, end: str | None = None
) -> pd.DataFrame:
    """Daily adjusted closes of the bundled ETFs.

    Parameters
    ----------
    tickers : sequence of str, optional
        Columns to keep (default: all 35); an unknown ticker raises ``DataError``.
    start, end : str, optional
        Inclusive date bounds.

    Returns
    -------
    pandas.DataFrame of shape (n_days, n_tickers)
        Wide prices on a ``DatetimeIndex`` named ``date``; NaN before each fund's inception.
    """
    return _window(sample_prices_wide(), tickers, start, end)


def load_fred_macro(
    series: Sequence[str] | None = None, start: str | None = None, end: str | None = None
) -> pd.DataFrame:
    """Daily FRED values (VIX, credit spreads, curve slopes, DTB3, ...) by observation date.

    A value dated d is published on the next business day; ``riskalloc`` estimators shift it
    themselves (point in time), so pass this frame unchanged as ``macro``.

    Parameters
    ----------
    series : sequence of str, optional
        FRED ids to keep (default: all 14); an unknown id raises ``DataError``.
    start, end : str, optional
        Inclusive date bounds.

    Returns
    -------
    pandas.DataFrame of shape (n_days, n_series)
        Wide values on a ``DatetimeIndex`` named ``date``; NaN where FRED has no observation.
    """
    return _window(sample_macro_wide(), series, start, end)


def load_universe_config() -> Universe:
    """The bundled universe as riskalloc's typed :class:`~riskalloc.universe.Universe`."""
    return _load_universe_config()


def load_universe() -> pd.DataFrame:
    """The bundled universe: one row per ticker with its asset class and role.

    Returns
    -------
    pandas.DataFrame of shape (n_tickers, 2)
        Index ``ticker``; columns ``asset_class`` (equity, bond, credit, commodity,
        real_estate, cash) and ``role`` (``cash`` for the cash ETF, ``equity_proxy`` for the
        equity proxy, else ``risky``). ``attrs`` holds ``risk_free_rate`` (a FRED id) and
        ``series`` (FRED id -> role).
    """
    u = _load_universe_config()

    def role(t: str) -> str:
        return "cash" if t == u.cash else "equity_proxy" if t == u.equity_proxy else "risky"

    frame = pd.DataFrame(
        {
            "asset_class": [a.asset_class for a in u.assets],
            "role": [role(a.ticker) for a in u.assets],
        },
        index=pd.Index(u.tickers, name="ticker"),
    )
    frame.attrs["risk_free_rate"] = u.risk_free_rate
    frame.attrs["series"] = {s.series_id: s.role for s in u.series}
    return frame
