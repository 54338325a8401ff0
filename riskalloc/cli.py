"""Command line for people who do not open the Dagster UI.

``riskalloc query "SQL"`` (read-only), ``riskalloc weights --date D``, ``riskalloc report``,
``riskalloc ingest`` and ``riskalloc backtest --prices FILE --macro FILE ...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from riskalloc.errors import RiskallocError

DEFAULT_DB = os.environ.get("RISKALLOC_DB", "warehouse/riskalloc.duckdb")


def _print(df: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(df.to_json(orient="records", date_format="iso"))
    else:
        print(df.to_string(index=False) if not df.empty else "(no rows)")


def cmd_query(args: argparse.Namespace) -> int:
    """Run read-only SQL against the warehouse."""
    from riskalloc.warehouse import query_readonly

    _print(query_readonly(Path(args.db), args.sql), args.format)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    """Target weights for a date (the latest published date on or before it)."""
    from riskalloc.warehouse import query_readonly

    date = pd.Timestamp(args.date or pd.Timestamp.today()).date()
    df = query_readonly(
        Path(args.db),
        "SELECT * FROM target_weights WHERE date = "
        "(SELECT max(date) FROM target_weights WHERE date <= ?) ORDER BY weight DESC",
        [date],
    )
    if df.empty:
        print(f"no published weights on or before {date}", file=sys.stderr)
        return 1
    _print(df, args.format)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Summary of the latest weights, regime and backtest headline."""
    from riskalloc.warehouse import query_readonly

    db = Path(args.db)
    sections = {
        "Latest regime": "SELECT * FROM regimes ORDER BY date DESC LIMIT 1",
        "Latest target weights": (
            "SELECT date, ticker, weight, risk_budget, exposure, regime FROM target_weights "
            "WHERE date = (SELECT max(date) FROM target_weights) ORDER BY weight DESC"
        ),
        "Backtest 2017-2022 (10 bps)": (
            "SELECT strategy, ann_return, ann_vol, sharpe, max_drawdown, calmar "
            "FROM backtest_metrics WHERE period = '2017-2022' AND cost_bps = 10 "
            "ORDER BY sharpe DESC"
        ),
    }
    for title, sql in sections.items():
        print(f"\n== {title} ==")
        try:
            _print(query_readonly(db, sql), "table")
        except RiskallocError as exc:
            print(f"(not available: {exc})")
    reports = db.parent / "reports"
    if reports.exists():
        print(f"\nreport files under {reports}:")
        for p in sorted(reports.rglob("*.md")):
            print(f"  {p}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest prices and macro series into the warehouse without Dagster."""
    from riskalloc.config import load_universe
    from riskalloc.sources import make_source
    from riskalloc.warehouse import Warehouse
    from riskalloc.warehouse.ingest import ingest_macro, ingest_prices

    wh = Warehouse.from_db_path(args.db)
    uni = load_universe(args.universe)
    psrc = make_source("yahoo" if args.source == "live" else args.source)
    msrc = make_source("fred" if args.source == "live" else args.source)
    with wh.connect() as con:
        for what, fn, src in (("prices", ingest_prices, psrc), ("macro", ingest_macro, msrc)):
            s = fn(wh, con, src, uni, args.start, args.end)
            print(f"{what}: {s.result}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Walk-forward evaluation on a user's own files."""
    from riskalloc.backtest.cli import run_backtest_cli

    return run_backtest_cli(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="riskalloc", description=__doc__.splitlines()[0])
    p.add_argument("--db", default=DEFAULT_DB, help="DuckDB file (default: %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("query", help="read-only SQL on the warehouse")
    q.add_argument("sql")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.set_defaults(func=cmd_query)

    w = sub.add_parser("weights", help="target weights for a date")
    w.add_argument("--date", default=None, help="YYYY-MM-DD (default: today)")
    w.add_argument("--format", choices=["table", "csv", "json"], default="table")
    w.set_defaults(func=cmd_weights)

    r = sub.add_parser("report", help="latest regime, weights and backtest headline")
    r.set_defaults(func=cmd_report)

    i = sub.add_parser("ingest", help="ingest prices and macro (no Dagster)")
    i.add_argument("--source", default="sample", choices=["sample", "live", "files"])
    i.add_argument("--universe", default=None, help="universe YAML (default: bundled)")
    i.add_argument("--start", default=None)
    i.add_argument("--end", default=None)
    i.set_defaults(func=cmd_ingest)

    from riskalloc.backtest.cli import build_parser as backtest_parser

    b = sub.add_parser(
        "backtest",
        help="walk-forward backtest on your own files",
        parents=[backtest_parser(add_help=False)],
    )
    b.set_defaults(func=cmd_backtest)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``riskalloc`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.func(args))
    except RiskallocError as exc:
        print(f"riskalloc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
