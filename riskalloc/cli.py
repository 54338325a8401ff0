"""Command line for people who do not open the Dagster UI.

``riskalloc query "SQL"`` (read-only), ``riskalloc weights --date D``, ``riskalloc report``,
``riskalloc ingest``, ``riskalloc delete TABLE --start D``, ``riskalloc repair`` and
``riskalloc backtest --prices FILE --macro FILE ...``. Bad input exits 2 with one line on
stderr; Ctrl-C exits 130 saying what was written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from riskalloc.errors import ConfigError, RiskallocError

DEFAULT_DB = os.environ.get("RISKALLOC_DB", "warehouse/riskalloc.duckdb")
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Ctrl-C, with a line saying what the interrupted command had written."""


def _is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, also as DuckDB reports it from inside a statement ("Query interrupted")."""
    import duckdb

    if isinstance(exc, KeyboardInterrupt | duckdb.InterruptException):
        return True
    return isinstance(exc, RuntimeError) and "interrupted" in str(exc).lower()


def _date(value: str | None, flag: str) -> str | None:
    """An ISO date argument (or None), refused with the flag's name when malformed."""
    if value is None:
        return None
    from riskalloc.errors import SchemaError
    from riskalloc.sources.dates import parse_date

    try:
        return str(parse_date(value, flag).date())
    except SchemaError as exc:
        raise ConfigError(str(exc)) from None


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

    _print(query_readonly(Path(args.db), args.sql, timeout=args.timeout), args.format)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    """Target weights for a date (the latest published date on or before it)."""
    from riskalloc.warehouse import query_readonly

    date = pd.Timestamp(_date(args.date, "--date") or pd.Timestamp.today()).date()
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


def _sources(args: argparse.Namespace) -> tuple[object | None, object | None]:
    """The price and macro sources the ingest flags ask for (files: the paths given)."""
    from riskalloc.sources import make_source

    if args.source != "files":
        if args.prices or args.macro:
            raise ConfigError("--prices/--macro are for --source files")
        live = args.source == "live"
        return make_source("yahoo" if live else args.source), make_source(
            "fred" if live else args.source
        )
    if not args.prices and not args.macro:
        raise ConfigError("--source files needs --prices FILE and/or --macro FILE")
    psrc = make_source("files", prices_path=args.prices) if args.prices else None
    msrc = make_source("files", macro_path=args.macro) if args.macro else None
    return psrc, msrc


def _state(con: object, tables: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Row count and checksum of each table (to say what an interrupted ingest wrote)."""
    from riskalloc.warehouse import table_exists, table_spec
    from riskalloc.warehouse.mirror import partition_fingerprint

    return {
        t: partition_fingerprint(con, table_spec(t), None) if table_exists(con, t) else (0, 0)  # type: ignore[arg-type]
        for t in tables
    }


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest prices and macro series into the warehouse without Dagster, all-or-nothing."""
    from riskalloc.universe import load_universe
    from riskalloc.warehouse import Warehouse
    from riskalloc.warehouse.ingest import check_window, ingest

    start, end = _date(args.start, "--start"), _date(args.end, "--end")
    check_window(start, end)
    uni = load_universe(args.universe)
    psrc, msrc = _sources(args)
    tables = [t for t, src in (("prices", psrc), ("macro", msrc)) if src is not None]
    wh = Warehouse.from_db_path(args.db)
    with wh.connect() as con:
        before = _state(con, tables)
        try:
            done = ingest(wh, con, uni, psrc, msrc, start, end, not args.full)  # type: ignore[arg-type]
        except BaseException as exc:
            if not _is_interrupt(exc):
                raise
            interrupted = exc
        else:
            interrupted = None
    if interrupted is not None:
        try:
            with wh.connect(wait_seconds=5.0) as con:
                changed = [t for t, v in _state(con, tables).items() if v != before[t]]
        except Exception:
            raise Interrupted(
                "interrupted; run `riskalloc repair` to check the warehouse"
            ) from None
        if changed:
            from riskalloc.warehouse.mirror import pending_tables

            mirror = (
                "the Parquet mirror is stale: run `riskalloc repair`"
                if pending_tables(wh.parquet_dir)
                else "the Parquet mirror matches"
            )
            raise Interrupted(
                f"interrupted after the commit: {' and '.join(changed)} written in full ({mirror})"
            ) from None
        raise Interrupted("interrupted; nothing written") from None
    for what, s in done.items():
        r = s.result
        window = f"{s.first_date.date()} to {s.last_date.date()}" if s.first_date else "no rows"
        print(
            f"{what}: inserted={r.inserted} updated={r.updated} unchanged={r.unchanged} "
            f"rows={r.total_rows} ({window})"
        )
    if len(done) > 1:
        print(f"committed {' and '.join(done)} in one transaction")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a date range of prices or macro rows (e.g. a bad future-dated row)."""
    from riskalloc.warehouse import Warehouse
    from riskalloc.warehouse.store import delete_range

    start, end = _date(args.start, "--start"), _date(args.end, "--end")
    if start is None and end is None:
        raise ConfigError("give --start and/or --end: refusing to delete every row")
    if start is not None and end is not None and start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    key = "ticker" if args.table == "prices" else "series_id"
    where = {key: args.key} if args.key else None
    wh = Warehouse.from_db_path(args.db)
    if not wh.db_path.is_file():
        raise ConfigError(f"no warehouse at {wh.db_path}")
    with wh.connect() as con:
        n = delete_range(wh, con, args.table, start, end, where)
    scope = f" for {key} {args.key}" if args.key else ""
    print(f"{args.table}: deleted {n} rows dated {start or 'any'} to {end or 'any'}{scope}")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    """Check the Parquet mirror against DuckDB (content checksums) and rewrite what differs."""
    from riskalloc.warehouse import TABLES, Warehouse, sync_parquet, table_exists, verify_parquet
    from riskalloc.warehouse import mirror as pq

    wh = Warehouse.from_db_path(args.db)
    if not wh.db_path.is_file():
        raise ConfigError(f"no warehouse at {wh.db_path}")
    bad = 0
    with wh.connect() as con:
        if not args.check and (n := pq.clean_stale_temp(wh.parquet_dir)):
            print(f"removed {n} temp files of an interrupted write")
        for t in TABLES:
            if not table_exists(con, t) and t not in pq.pending_tables(wh.parquet_dir):
                continue
            problems = verify_parquet(wh, con, t)
            if not problems:
                print(f"{t}: ok")
                continue
            bad += 1
            for problem in problems:
                print(f"{t}: {problem}")
            if not args.check:
                sync_parquet(wh, con, t)
                print(f"{t}: repaired (mirror rewritten from DuckDB)")
    if args.check and bad:
        print(f"{bad} tables need `riskalloc repair`", file=sys.stderr)
        return 1
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Walk-forward evaluation on a user's own files."""
    from riskalloc.backtest.cli import run_backtest_cli

    return run_backtest_cli(args)


def _seconds(value: str) -> float:
    """A ``--timeout`` value: seconds >= 0."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value[:20]!r}") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {value[:20]!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="riskalloc", description=__doc__.splitlines()[0])
    p.add_argument("--db", default=DEFAULT_DB, help="DuckDB file (default: %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("query", help="read-only SQL on the warehouse")
    q.add_argument("sql")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        help="stop the query after this many seconds (default: $RISKALLOC_QUERY_TIMEOUT "
        "or 120; 0 = no limit)",
    )
    q.set_defaults(func=cmd_query)

    w = sub.add_parser("weights", help="target weights for a date")
    w.add_argument("--date", default=None, help="YYYY-MM-DD (default: today)")
    w.add_argument("--format", choices=["table", "csv", "json"], default="table")
    w.set_defaults(func=cmd_weights)

    r = sub.add_parser("report", help="latest regime, weights and backtest headline")
    r.set_defaults(func=cmd_report)

    i = sub.add_parser("ingest", help="ingest prices and macro (no Dagster), all-or-nothing")
    i.add_argument("--source", default="sample", choices=["sample", "live", "files"])
    i.add_argument("--universe", default=None, help="universe YAML (default: bundled)")
    i.add_argument("--prices", default=None, help="--source files: prices CSV/Parquet")
    i.add_argument("--macro", default=None, help="--source files: macro CSV/Parquet")
    i.add_argument("--start", default=None, help="YYYY-MM-DD")
    i.add_argument("--end", default=None, help="YYYY-MM-DD")
    i.add_argument("--full", action="store_true", help="not incremental: fetch the whole window")
    i.set_defaults(func=cmd_ingest)

    d = sub.add_parser("delete", help="delete a date range of prices or macro rows")
    d.add_argument("table", choices=["prices", "macro"])
    d.add_argument("--start", default=None, help="first date to delete (YYYY-MM-DD)")
    d.add_argument("--end", default=None, help="last date to delete (YYYY-MM-DD)")
    d.add_argument("--key", action="append", help="only this ticker / series id (repeatable)")
    d.set_defaults(func=cmd_delete)

    rp = sub.add_parser("repair", help="check the Parquet mirror and rewrite what differs")
    rp.add_argument("--check", action="store_true", help="only report (exit 1 if stale)")
    rp.set_defaults(func=cmd_repair)

    from riskalloc.reports.cli import add_report_commands

    add_report_commands(sub)  # trades (and explain): riskalloc/reports/cli.py

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
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the (heavy) subcommand modules import
        print("riskalloc: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    logging.basicConfig(  # library warnings (implausible values, repairs) reach stderr
        level=logging.INFO if args.verbose else logging.WARNING,
        format="riskalloc: %(levelname)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except RiskallocError as exc:
        _error(str(exc))
        return 2
    except Interrupted as exc:
        print(f"riskalloc: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"riskalloc: interrupted; {_interrupt_note(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f"cannot use {exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 2
    except Exception as exc:
        if _is_interrupt(exc):
            print(f"riskalloc: interrupted; {_interrupt_note(args)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        if args.verbose:
            raise
        import duckdb

        if isinstance(exc, duckdb.Error):
            _error(f"warehouse error: {exc}")
            return 2
        _error(f"unexpected {type(exc).__name__}: {exc} (re-run with -v for the traceback)")
        return 1


def _interrupt_note(args: argparse.Namespace) -> str:
    """What an interrupted command left: writers hold the old or the new state."""
    if args.command in ("delete", "repair"):
        return (
            "the warehouse holds the old or the new state; `riskalloc repair --check` shows which"
        )
    if args.command in ("query", "weights", "report", "ingest"):
        return "nothing written"
    return "this run's outputs may be incomplete; re-run it"


def _error(message: str) -> None:
    """One line on stderr: the message's first line, cut to a readable length."""
    line = message.splitlines()[0] if message else "error"
    print(f"riskalloc: error: {line[:2000]}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
