"""Pure data-quality checks; the pipeline wraps them as Dagster asset checks."""

from __future__ import annotations

from riskalloc.calendar import is_trading_day, previous_trading_day, trading_days
from riskalloc.quality.findings import CheckOutcome
from riskalloc.quality.macro import check_point_in_time, check_stale_series
from riskalloc.quality.prices import (
    check_daily_moves,
    check_gaps,
    check_positive_prices,
    check_present,
    check_unique_keys,
)

__all__ = [
    "CheckOutcome",
    "check_daily_moves",
    "check_gaps",
    "check_point_in_time",
    "check_positive_prices",
    "check_present",
    "check_stale_series",
    "check_unique_keys",
    "is_trading_day",
    "previous_trading_day",
    "trading_days",
]
