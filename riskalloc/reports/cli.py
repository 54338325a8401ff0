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
    """Add ``trades`` and ``explain`` to the ``riskalloc`` subcommands."""
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
    add_explain_command(sub)


def _player(name: str) -> str:
    """A player in words: ``macro:vixcls_level`` → ``vixcls_level (macro)``."""
    kind, _, feat = name.partition(":")
    if name == "asset:vol_forecast":
        return "the vol forecasts"
    return f"{feat} ({'macro' if kind == 'macro' else 'asset feature'})" if feat else name


def explain_lines(shap_day: pd.DataFrame, top: int = 3) -> list[str]:
    """Plain-words lines: each output's value, its reference value and its top drivers."""
    from riskalloc.reports.shap_attributions import BASE_FEATURE

    lines = []
    keys = ["target", "ticker"]
    order = shap_day.assign(_exp=shap_day["target"] != "exposure").sort_values(["_exp", "ticker"])
    for (target, ticker), g in order.groupby(keys, sort=False):
        base = g.loc[g["feature"] == BASE_FEATURE, "value"]
        phi = g.loc[g["feature"] != BASE_FEATURE].set_index("feature")["value"]
        ref = float(base.iloc[0]) if len(base) else float("nan")
        value = ref + float(phi.sum())
        what = "weight" if target == "weight" else "risk budget"
        name = "exposure" if target == "exposure" else f"{ticker} {what}"
        drivers = phi.reindex(phi.abs().sort_values(ascending=False).index).head(top)
        drivers = drivers.loc[drivers.abs() >= 5e-5]  # below the printed precision: no driver
        words = ", ".join(
            f"{_player(f)} {'raises' if v > 0 else 'lowers'} it by {abs(v):.4f}"
            for f, v in drivers.items()
        )
        words = words or "no input moves it (at its cap or floor)"
        lines.append(f"{name}: {value:.4f} (reference {ref:.4f}); {words}")
    return lines


def cmd_explain(args: argparse.Namespace) -> int:
    """Top SHAP drivers of each asset's budget and of exposure on a published date."""
    from riskalloc.warehouse import query_readonly

    date = _iso_date(args.date, "--date")
    sql = "SELECT * FROM shap_attributions WHERE date = ?"
    params: list[object] = [date.date()] if date is not None else []
    if date is None:
        sql = (
            "SELECT * FROM shap_attributions WHERE date = (SELECT max(date) FROM shap_attributions)"
        )
    rows = query_readonly(Path(args.db), sql, params)
    if rows.empty:
        day = date.date() if date is not None else "any date"
        raise ConfigError(
            f"no SHAP attributions stored for {day}; publish that day's target weights first"
        )
    day = pd.Timestamp(rows["date"].iloc[0]).date()
    print(f"Why the allocation of {day} looks as it does (SHAP, top {args.top} drivers):")
    for line in explain_lines(rows, args.top):
        print("  " + line)
    return 0


def add_explain_command(sub: argparse._SubParsersAction) -> None:
    """Add ``explain`` to the ``riskalloc`` subcommands."""
    e = sub.add_parser("explain", help="top drivers of each budget and of exposure on a date")
    e.add_argument("--date", default=None, help="YYYY-MM-DD (default: latest explained)")
    e.add_argument("--top", type=int, default=3, help="drivers per output (default: 3)")
    e.set_defaults(func=cmd_explain)
