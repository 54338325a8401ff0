"""Pure checks on the long ``macro`` table."""

from __future__ import annotations

import pandas as pd

from riskalloc.quality.findings import CheckOutcome


def check_stale_series(
    df: pd.DataFrame, max_lag_days: int = 10, max_flat_obs: int = 30
) -> CheckOutcome:
    """No series stops ``max_lag_days`` business days before the newest one, or stays flat.

    A flat run of over ``max_flat_obs`` identical observations usually means a feed
    that stopped updating (rates held at zero for years are excluded: only non-zero runs).
    """
    if df.empty:
        return CheckOutcome("stale_series", True, "no rows")
    newest = df["date"].max()
    found = []
    for sid, g in df.sort_values("date").groupby("series_id", sort=True):
        last = g["date"].iloc[-1]
        lag = len(pd.bdate_range(last, newest)) - 1
        if lag > max_lag_days:
            found.append(
                {"series_id": sid, "problem": f"last value {last.date()}, {lag} bdays old"}
            )
            continue
        v = g["value"].to_numpy()
        run = 1
        for i in range(len(v) - 1, 0, -1):
            if v[i] != v[i - 1]:
                break
            run += 1
        if run > max_flat_obs and v[-1] != 0:
            found.append({"series_id": sid, "problem": f"last {run} observations identical"})
    rows = pd.DataFrame(found)
    return CheckOutcome(
        "stale_series",
        rows.empty,
        "no stale series" if rows.empty else f"stale series {sorted(rows['series_id'])}",
        rows=rows,
    )


def check_point_in_time(df: pd.DataFrame) -> CheckOutcome:
    """Every value becomes available on or after its observation date."""
    bad = df.loc[df["available_at"] < df["date"], ["date", "series_id", "available_at"]]
    return CheckOutcome(
        "available_after_observed",
        bad.empty,
        "point in time ok" if bad.empty else f"{len(bad)} rows available before observed",
        rows=bad,
    )
