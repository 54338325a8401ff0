"""The portfolio manager's subcommands of ``riskalloc``: ``trades`` (and ``explain``).

Registered on the main parser by :func:`add_report_commands`; errors are riskalloc errors,
which the main entry point turns into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from riskalloc.errors import ConfigError


def _iso_date(value: str | None, flag: str) -> pd.Timestamp | None:
    """An ISO date argument (or None); a malformed one is a ConfigError naming the flag."""
    if value is None:
        return None
    try:
        return pd.Timestamp(pd.to_datetime(value, format="%Y-%m-%d"))
    except (ValueError, TypeError):
        raise ConfigError(f"{flag} must be a date YYYY-MM-DD, got {value[:30]!r}") from None


def _non_negative(value: str) -> float:
    """A finite number ≥ 0 for argparse."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value[:20]!r}") from None
    if not math.isfinite(x) or x < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {value[:20]!r}")
    return x


def _positive(value: str) -> float:
    """A finite number > 0 for argparse."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value[:20]!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value[:20]!r}")
    return x


def cmd_trades(args: argparse.Namespace) -> int:
    """Orders from a holdings CSV to the day's target weights; table + CSV, totals printed."""
    from riskalloc.reports.trades import TradeSettings, run_trade_list
    from riskalloc.warehouse.store import Warehouse

    date = _iso_date(args.date, "--date")
    db = Path(args.db)
    if not db.exists():
        raise ConfigError(f"no warehouse at {db}; run `make run` (or pass --db)")
    settings = TradeSettings(band=args.band, min_trade=args.min_trade, cost_bps=args.cost_bps)
    trades, path = run_trade_list(
        Warehouse.from_db_path(db), args.holdings, date, args.nav, settings, args.out
    )
    cols = ["ticker", "current_weight", "target_weight", "order_shares", "order_notional"]
    shown = trades.rows.loc[trades.rows["traded"], [*cols, "est_cost"]]
    with pd.option_context("display.float_format", "{:,.4f}".format, "display.width", 120):
        print(shown.to_string(index=False) if not shown.empty else "(no orders)")
    print(trades.summary())
    print(f"wrote {path} and table trade_lists ({len(trades.rows)} rows)")
    return 0


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``trades`` to the ``riskalloc`` subcommands."""
    t = sub.add_parser("trades", help="orders from your holdings to the day's target weights")
    t.add_argument("--holdings", required=True, help="CSV: ticker,shares or ticker,weight")
    t.add_argument("--nav", type=_positive, default=None, help="NAV (default: holdings' value)")
    t.add_argument("--date", default=None, help="YYYY-MM-DD (default: latest published)")
    t.add_argument("--out", default=None, help="CSV path (default: <warehouse>/trades/D.csv)")
    t.add_argument(
        "--band", type=_non_negative, default=0.0, help="no-trade band in weight, e.g. 0.005"
    )
    t.add_argument(
        "--min-trade", type=_non_negative, default=0.0, help="smallest order in currency"
    )
    t.add_argument(
        "--cost-bps", type=_non_negative, default=10.0, help="cost per unit turnover (bps)"
    )
    t.set_defaults(func=cmd_trades)
