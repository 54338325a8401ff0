"""The morning trade list: from what the portfolio holds to the day's published target weights.

Holdings come as a CSV with ``ticker,shares`` (valued at the day's close; the NAV defaults to
their value) or ``ticker,weight`` (with a NAV). ``CASH`` is an allowed ticker (its "shares" are
currency units). Orders are whole shares. Costs follow the backtest's model
(:mod:`riskalloc.backtest.engine`): ``cost_bps / 1e4 ×`` L1 turnover *including the cash leg*,
so moving 10 % of NAV from cash into an asset turns over 0.2. A no-trade band (in weight) and a
minimum order (in currency) suppress small trades. Every input error is raised before anything
is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskalloc.errors import DataError, SchemaError
from riskalloc.reports.render import atomic_path, atomic_write_text

CASH = "CASH"
COST_BPS = 10.0  # the backtest's default (riskalloc.backtest.headline.DEFAULT_COST_BPS)
CSV_COLUMNS = [
    "ticker",
    "current_weight",
    "target_weight",
    "order_shares",
    "order_notional",
    "est_cost",
    "price",
    "current_shares",
    "traded",
]
TABLE_COLUMNS = ["date", *CSV_COLUMNS, "nav", "cost_bps"]
WEIGHT_TOL = 1e-6


@dataclass(frozen=True)
class Holdings:
    """What the portfolio holds: shares (or weights) per ticker, CASH included."""

    kind: str  # "shares" or "weight"
    quantities: pd.Series  # index ticker (upper case), float ≥ 0
    source: str = ""


@dataclass(frozen=True)
class TradeSettings:
    """No-trade band (|target − current| weight below it: no order) and minimum order size."""

    band: float = 0.0
    min_trade: float = 0.0
    cost_bps: float = COST_BPS

    def __post_init__(self) -> None:
        for name in ("band", "min_trade", "cost_bps"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise DataError(f"trade setting {name} must be a finite number ≥ 0, got {v!r}")


@dataclass(frozen=True)
class TradeList:
    """Orders for one date: one row per ticker of the target (CASH last) and the totals."""

    date: pd.Timestamp
    nav: float
    rows: pd.DataFrame
    settings: TradeSettings = field(default_factory=TradeSettings)

    @property
    def turnover(self) -> float:
        """L1 turnover of the orders incl. the cash leg, as a fraction of NAV."""
        return float(self.rows["order_notional"].abs().sum() / self.nav)

    @property
    def total_cost(self) -> float:
        """Estimated cost in currency: cost_bps / 1e4 × turnover × NAV."""
        return float(self.rows["est_cost"].sum())

    def summary(self) -> str:
        """Plain-words totals for the terminal and reports."""
        n = int((self.rows["traded"] & (self.rows["ticker"] != CASH)).sum())
        return (
            f"{self.date.date()}: {n} orders on NAV {self.nav:,.2f}; turnover "
            f"{self.turnover:.2%} (incl. cash leg), estimated cost {self.total_cost:,.2f} "
            f"at {self.settings.cost_bps:g} bps"
        )

    def table_rows(self) -> pd.DataFrame:
        """Rows for the ``trade_lists`` table (date, the CSV columns, nav, cost_bps)."""
        out = self.rows.copy()
        out.insert(0, "date", self.date)
        out["nav"] = self.nav
        out["cost_bps"] = self.settings.cost_bps
        return out.loc[:, TABLE_COLUMNS]

    def to_csv(self) -> str:
        """The CSV text (columns start ticker,current_weight,target_weight,order_shares,...)."""
        buf = io.StringIO()
        self.rows.loc[:, CSV_COLUMNS].to_csv(buf, index=False, float_format="%.10g")
        return buf.getvalue()


def load_holdings(path: str | Path) -> Holdings:
    """Read a holdings CSV (``ticker,shares`` or ``ticker,weight``); errors name the row."""
    p = Path(path)
    try:
        raw = pd.read_csv(p, dtype={"ticker": str})
    except FileNotFoundError:
        raise DataError(f"holdings file {p} does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SchemaError(f"holdings file {p} is not a readable CSV: {exc}") from None
    cols = [str(c).strip().lower() for c in raw.columns]
    raw.columns = cols
    kinds = [k for k in ("shares", "weight") if k in cols]
    if "ticker" not in cols or len(kinds) != 1 or len(cols) != 2:
        raise SchemaError(
            f"holdings file {p} needs exactly the columns ticker,shares or ticker,weight; "
            f"found {list(raw.columns)}"
        )
    kind = kinds[0]
    if raw.empty:
        raise DataError(f"holdings file {p} has no rows")
    tickers = raw["ticker"].astype("string").str.strip().str.upper()
    if tickers.isna().any() or (tickers == "").any():
        row = int(np.flatnonzero(tickers.isna() | (tickers == ""))[0]) + 2
        raise DataError(f"holdings file {p}: line {row} has no ticker")
    q = pd.to_numeric(raw[kind], errors="coerce")
    bad = q.isna() | ~np.isfinite(q.fillna(0.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"holdings file {p}: {kind} of {tickers.iloc[i]} (line {i + 2}) is missing or not "
            f"a number: {raw[kind].iloc[i]!r}"
        )
    if (q < 0).any():
        i = int(np.flatnonzero(q < 0)[0])
        raise DataError(
            f"holdings file {p}: {kind} of {tickers.iloc[i]} is negative ({q.iloc[i]:g}); "
            "short positions are not supported"
        )
    dup = tickers.duplicated()
    if dup.any():
        raise DataError(f"holdings file {p}: ticker {tickers[dup].iloc[0]} appears twice")
    return Holdings(kind, pd.Series(q.to_numpy(float), index=tickers.to_numpy(str)), str(p))


def build_trade_list(
    holdings: Holdings,
    target: pd.DataFrame,
    prices: pd.Series,
    nav: float | None = None,
    settings: TradeSettings | None = None,
    known_tickers: set[str] | None = None,
) -> TradeList:
    """Orders from ``holdings`` to one date's ``target`` rows (date, ticker, weight).

    ``prices``: that day's close per ticker (every target or held ticker needs one).
    ``known_tickers``: the universe; a held ticker outside it and the target is an error.
    With share holdings ``nav`` defaults to their value (a larger ``nav`` adds new cash);
    with weight holdings it is required, and weights below 1 leave the rest in CASH.
    """
    settings = settings or TradeSettings()
    if target.empty:
        raise DataError("no published target weights to trade towards")
    dates = pd.to_datetime(target["date"]).unique()
    if len(dates) != 1:
        raise DataError(f"target weights of one date expected, got {len(dates)} dates")
    date = pd.Timestamp(dates[0])
    tw = target.set_index("ticker")["weight"].astype(float)
    known = set(tw.index) | set(known_tickers or ()) | {CASH}
    unknown = sorted(set(holdings.quantities.index) - known)
    if unknown:
        raise DataError(
            f"holdings {holdings.source or ''} hold tickers outside the universe: {unknown} "
            f"(allowed: the universe's tickers and {CASH})"
        )
    tickers = [*tw.index, *sorted(set(holdings.quantities.index) - set(tw.index) - {CASH})]
    px = pd.Series(prices, dtype=float).reindex(tickers)
    no_px = [t for t in tickers if not (np.isfinite(px[t]) and px[t] > 0)]
    if no_px:
        raise DataError(f"no close price on {date.date()} for {no_px}; cannot size orders")
    held = holdings.quantities
    risky_held = held.drop(CASH, errors="ignore").reindex(tickers, fill_value=0.0)
    cash_held = float(held.get(CASH, 0.0))
    if holdings.kind == "shares":
        value = float((risky_held * px).sum()) + cash_held
        nav = value if nav is None else float(nav)
        if not np.isfinite(nav) or nav <= 0:
            raise DataError(f"NAV must be > 0, got {nav!r} (holdings worth {value:,.2f})")
        if nav < value - 1e-6 * max(1.0, value):
            raise DataError(f"--nav {nav:,.2f} is below the holdings' value {value:,.2f}")
        cur_shares = risky_held
        cur_w = risky_held * px / nav
        cash_w = (cash_held + nav - value) / nav
    else:
        if nav is None:
            raise DataError("weight holdings need a NAV (--nav) to turn weights into orders")
        nav = float(nav)
        if not np.isfinite(nav) or nav <= 0:
            raise DataError(f"NAV must be > 0, got {nav!r}")
        total = float(held.sum())
        if total > 1 + WEIGHT_TOL:
            raise DataError(f"holding weights sum to {total:.6f} > 1; they are fractions of NAV")
        cur_w = risky_held
        cash_w = cash_held + (1.0 - total)  # weights below 1: the rest is cash
        cur_shares = risky_held * nav / px
    tgt = tw.reindex(tickers, fill_value=0.0)
    diff = tgt - cur_w
    shares = np.round(diff * nav / px)
    notional = shares * px
    small = (diff.abs() < settings.band) | (notional.abs() < settings.min_trade)
    shares = shares.where(~small, 0.0)
    notional = notional.where(~small, 0.0)
    rate = settings.cost_bps / 1e4
    rows = pd.DataFrame(
        {
            "ticker": tickers,
            "current_weight": cur_w.to_numpy(),
            "target_weight": tgt.to_numpy(),
            "order_shares": shares.to_numpy(),
            "order_notional": notional.to_numpy(),
            "est_cost": rate * notional.abs().to_numpy(),
            "price": px.to_numpy(),
            "current_shares": cur_shares.to_numpy(),
            "traded": (shares != 0).to_numpy(),
        }
    )
    cash_order = -float(notional.sum())  # the cash leg balances every order
    cash = {
        "ticker": CASH,
        "current_weight": cash_w,
        "target_weight": 1.0 - float(tw.sum()),
        "order_shares": cash_order,
        "order_notional": cash_order,
        "est_cost": rate * abs(cash_order),
        "price": 1.0,
        "current_shares": cash_w * nav,
        "traded": cash_order != 0,
    }
    rows = pd.concat([rows, pd.DataFrame([cash])], ignore_index=True)
    return TradeList(date, nav, rows, settings)


def write_trade_csv(trades: TradeList, path: str | Path) -> Path:
    """The trade list as CSV, written atomically."""
    return atomic_write_text(path, trades.to_csv())


def published_target(con: object, date: str | pd.Timestamp | None) -> pd.DataFrame:
    """The target weights published on ``date`` (the latest date when None); error if none."""
    from riskalloc.warehouse.catalog import table_exists
    from riskalloc.warehouse.reads import read_table

    if not table_exists(con, "target_weights"):
        raise DataError("no target weights are published yet; materialise target_weights first")
    if date is None:
        allw = read_table(con, "target_weights")
        if allw.empty:
            raise DataError("no target weights are published yet")
        day = pd.Timestamp(allw["date"].max())
        return allw.loc[pd.to_datetime(allw["date"]) == day].reset_index(drop=True)
    day = pd.Timestamp(date)
    w = read_table(con, "target_weights", start=day, end=day)
    if w.empty:
        raise DataError(
            f"no target weights were published on {day.date()}; pick a published date "
            "(riskalloc weights --date D shows the latest on or before D)"
        )
    return w


def closes_on(con: object, date: pd.Timestamp) -> tuple[pd.Series, set[str]]:
    """Each ticker's close on ``date`` (adjusted close where the raw one is missing) and the
    tickers the warehouse knows."""
    from riskalloc.warehouse.reads import read_table

    p = read_table(con, "prices", start=date, end=date)
    close = p["close"] if "close" in p.columns else p["adj_close"]
    px = close.fillna(p["adj_close"]).astype(float)
    return pd.Series(px.to_numpy(), index=p["ticker"].astype(str)), set(p["ticker"].astype(str))


def run_trade_list(
    wh: object,
    holdings_path: str | Path,
    date: str | pd.Timestamp | None = None,
    nav: float | None = None,
    settings: TradeSettings | None = None,
    out: str | Path | None = None,
) -> tuple[TradeList, Path]:
    """Build the day's trade list from the warehouse, then store it in ``trade_lists`` and a CSV.

    Everything is validated first: on any error nothing is written. The CSV goes to ``out``
    (default ``<warehouse>/trades/<date>.csv``).
    """
    from riskalloc.warehouse.store import upsert

    holdings = load_holdings(holdings_path)
    with wh.connect() as con:
        target = published_target(con, date)
        day = pd.Timestamp(target["date"].iloc[0])
        prices, known = closes_on(con, day)
        trades = build_trade_list(holdings, target, prices, nav, settings, known)
        path = Path(out) if out is not None else Path(wh.root) / "trades" / f"{day.date()}.csv"
        # the CSV is staged first and only moved into place once the table write committed
        with atomic_path(path) as tmp:
            tmp.write_text(trades.to_csv(), encoding="utf-8")
            upsert(wh, con, "trade_lists", trades.table_rows())
    return trades, path
