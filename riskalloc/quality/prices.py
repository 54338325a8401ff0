"""Pure checks on the long ``prices`` table (wrapped by Dagster asset checks)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from riskalloc.calendar import trading_days
from riskalloc.quality.findings import CheckOutcome


def check_unique_keys(df: pd.DataFrame, key: tuple[str, ...] = ("date", "ticker")) -> CheckOutcome:
    """No two rows share a key."""
    dup = df.loc[df.duplicated(list(key), keep=False), list(key)]
    return CheckOutcome(
        "unique_keys",
        dup.empty,
        "keys are unique" if dup.empty else f"{len(dup)} rows share a {key} key",
        rows=dup,
    )


def check_positive_prices(df: pd.DataFrame) -> CheckOutcome:
    """Every stored price is finite and > 0."""
    cols = [c for c in ("open", "high", "low", "close", "adj_close") if c in df.columns]
    vals = df[cols]
    bad = (vals <= 0).any(axis=1) | np.isinf(vals.to_numpy()).any(axis=1)
    bad |= df["adj_close"].isna()
    rows = df.loc[bad, ["date", "ticker", *cols]]
    return CheckOutcome(
        "positive_prices",
        rows.empty,
        "all prices positive" if rows.empty else f"{len(rows)} non-positive or missing prices",
        rows=rows,
    )


def check_gaps(df: pd.DataFrame, max_gap_days: int = 5) -> CheckOutcome:
    """No ticker misses more than ``max_gap_days`` consecutive NYSE sessions mid-history."""
    if df.empty:
        return CheckOutcome("trading_day_gaps", True, "no rows")
    sessions = trading_days(df["date"].min(), df["date"].max())
    pos = pd.Series(np.arange(len(sessions)), index=sessions)
    found = []
    for ticker, g in df.groupby("ticker", sort=True):
        idx = pos.reindex(pd.DatetimeIndex(g["date"]).sort_values()).dropna().to_numpy()
        if len(idx) < 2:
            continue
        missing = np.diff(idx) - 1
        for i in np.flatnonzero(missing > max_gap_days):
            found.append(
                {
                    "ticker": ticker,
                    "after": sessions[int(idx[i])].date(),
                    "before": sessions[int(idx[i + 1])].date(),
                    "missing_sessions": int(missing[i]),
                }
            )
    rows = pd.DataFrame(found)
    return CheckOutcome(
        "trading_day_gaps",
        rows.empty,
        f"no gaps over {max_gap_days} sessions"
        if rows.empty
        else f"{len(rows)} gaps over {max_gap_days} sessions in {sorted(set(rows['ticker']))}",
        rows=rows,
    )


def check_daily_moves(df: pd.DataFrame, max_abs_log_return: float = 0.25) -> CheckOutcome:
    """Flag daily moves beyond ``max_abs_log_return`` (a warning: crashes are real)."""
    d = df.sort_values(["ticker", "date"])
    lr = np.log(d["adj_close"]).groupby(d["ticker"]).diff()
    big = lr.abs() > max_abs_log_return
    rows = d.loc[big, ["date", "ticker", "adj_close"]].assign(log_return=lr[big])
    return CheckOutcome(
        "implausible_daily_moves",
        rows.empty,
        "no implausible moves"
        if rows.empty
        else f"{len(rows)} daily moves beyond {max_abs_log_return:.0%} (check for split seams)",
        severity="warn",
        rows=rows,
    )


def check_present(df: pd.DataFrame, expected: Iterable[str], key: str = "ticker") -> CheckOutcome:
    """Every configured ticker (or series) has rows."""
    absent = sorted(set(expected) - set(df[key].astype(str)))
    return CheckOutcome(
        f"all_{key}s_present",
        not absent,
        "all present" if not absent else f"no rows for {absent}",
        rows=pd.DataFrame({key: absent}),
    )
