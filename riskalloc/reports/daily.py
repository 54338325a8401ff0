"""The daily report a portfolio manager reads in the morning: one HTML page per published day.

``reports/daily/<date>.html``: weights by asset class and their change since the last
rebalance, the regime (the allocator's named regime and the reference), the top SHAP drivers
of exposure and budgets, the trade list when holdings are configured, and the current drawdown
of the published strategy (its targets held with weekly rebalancing at the backtest's cost).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskalloc.allocate.design import MAX_GROSS_EXPOSURE
from riskalloc.backtest.engine import simulate
from riskalloc.backtest.schedule import period_ends
from riskalloc.errors import DataError
from riskalloc.market import MarketData
from riskalloc.reports.render import atomic_write_text, html_page, html_table
from riskalloc.reports.shap_attributions import BASE_FEATURE
from riskalloc.reports.trades import COST_BPS

REBALANCE = "weekly"  # the backtest's headline rebalancing


@dataclass(frozen=True)
class DailyReport:
    """What the page says (for metadata and tests) and where it was written."""

    date: pd.Timestamp
    path: Path
    by_class: pd.DataFrame
    last_rebalance: pd.Timestamp | None
    regime: str
    reference_regime: str | None
    drawdown: float
    max_drawdown: float
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    trades_summary: str | None = None


def last_rebalance(
    published: pd.DatetimeIndex, dates: pd.DatetimeIndex, day: pd.Timestamp, rebalance: str
) -> pd.Timestamp | None:
    """The latest published rebalance date (period end) strictly before ``day``."""
    ends = period_ends(pd.DatetimeIndex(dates), rebalance)
    ok = ends[(ends < day) & ends.isin(published)]
    return None if len(ok) == 0 else pd.Timestamp(ok[-1])


def strategy_drawdown(
    weights: pd.DataFrame,
    md: MarketData,
    day: pd.Timestamp,
    cost_bps: float = COST_BPS,
    rebalance: str = REBALANCE,
) -> tuple[float, float]:
    """(current, maximum) drawdown of the published targets held since the first published day."""
    wide = weights.pivot_table(index="date", columns="ticker", values="weight", aggfunc="first")
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index))
    wide = wide.loc[wide.index <= day].fillna(0.0)
    if len(wide) < 2:
        return 0.0, 0.0
    # the targets passed publication's checks: hold them as published, levered or not
    gross = float(np.clip(wide.sum(axis=1).max(), 1.0, MAX_GROSS_EXPOSURE))
    res = simulate(wide, md, cost_bps, wide.index[0], day, rebalance=rebalance, max_gross=gross)
    wealth = res.wealth
    dd = wealth / wealth.cummax() - 1.0
    return float(-dd.iloc[-1]), float(-dd.min())


def top_drivers(shap_day: pd.DataFrame | None, n: int = 5) -> pd.DataFrame:
    """Top ``n`` players of exposure (signed) and of the budgets (Σ|SHAP| over assets)."""
    cols = ["target", "feature", "shap"]
    if shap_day is None or shap_day.empty:
        return pd.DataFrame(columns=cols)
    s = shap_day.loc[shap_day["feature"] != BASE_FEATURE]
    s = s.loc[s["value"].abs() > 1e-9]  # players that do not move an output are no driver
    exp = s.loc[s["target"] == "exposure"].set_index("feature")["value"]
    exp = exp.reindex(exp.abs().sort_values(ascending=False).index).head(n)
    per_asset = "weight" if (s["target"] == "weight").any() else "risk_budget"
    bud = s.loc[s["target"] == per_asset].assign(a=lambda d: d["value"].abs())
    bud = bud.groupby("feature")["a"].sum().sort_values(ascending=False).head(n)
    out = [("exposure", f, float(v)) for f, v in exp.items()]
    label = "weights" if per_asset == "weight" else "risk budgets"
    out += [(f"{label} (sum |SHAP| over assets)", f, float(v)) for f, v in bud.items()]
    return pd.DataFrame(out, columns=cols)


def _pct(x: float) -> str:
    return f"{x + 0.0:.2%}" if abs(x) >= 5e-5 else "0.00%"


def render_daily_report(
    day: str | pd.Timestamp,
    weights: pd.DataFrame,
    md: MarketData,
    out_dir: str | Path,
    regimes: pd.DataFrame | None = None,
    shap: pd.DataFrame | None = None,
    trades: pd.DataFrame | None = None,
    cost_bps: float = COST_BPS,
    rebalance: str = REBALANCE,
) -> DailyReport:
    """Write ``out_dir/<day>.html`` from published ``weights`` (history up to ``day``).

    ``regimes``: the ``regimes`` table; ``shap``: ``shap_attributions`` rows of the day;
    ``trades``: ``trade_lists`` rows of the day. Missing pieces are said so on the page.
    """
    day = pd.Timestamp(day)
    w = weights.assign(date=pd.to_datetime(weights["date"]))
    today = w.loc[w["date"] == day]
    if today.empty:
        raise DataError(f"no target weights were published on {day.date()}; no daily report")
    published = pd.DatetimeIndex(w["date"].unique()).sort_values()
    prev_day = last_rebalance(published, md.dates, day, rebalance)
    prev = w.loc[w["date"] == prev_day] if prev_day is not None else today.iloc[0:0]
    cls_now = today.groupby("asset_class")["weight"].sum()
    cls_prev = prev.groupby("asset_class")["weight"].sum()
    by_class = pd.DataFrame({"weight": cls_now, "at_last_rebalance": cls_prev})
    if len(prev):  # no earlier rebalance: nothing to compare with (NaN, not zero)
        by_class = by_class.fillna(0.0)
    by_class.loc["cash"] = [
        1.0 - float(today["weight"].sum()),
        1.0 - float(prev["weight"].sum()) if len(prev) else np.nan,
    ]
    by_class["change"] = by_class["weight"] - by_class["at_last_rebalance"]
    by_class.index.name = "asset_class"
    per = today.set_index("ticker")[["asset_class", "weight", "risk_budget"]].copy()
    per["change"] = per["weight"] - prev.set_index("ticker")["weight"].reindex(per.index)
    per = per.sort_values("weight", ascending=False)
    regime = str(today["regime"].iloc[0])
    ref_regime, ref_p = None, None
    if regimes is not None and not regimes.empty:
        r = regimes.assign(date=pd.to_datetime(regimes["date"]))
        r = r.loc[r["date"] <= day]
        if len(r):
            row = r.iloc[-1]
            ref_regime = str(row["regime"])
            ref_p = float(row.get(f"p_{ref_regime}", np.nan))
    current_dd, max_dd = strategy_drawdown(w, md, day, cost_bps, rebalance)
    drivers = top_drivers(shap)
    exposure = float(today["exposure"].iloc[0])

    since = f"since the last {rebalance} rebalance ({prev_day.date()})" if prev_day else ""
    head = [
        f"<p><b>Exposure</b> {_pct(exposure)} (cash {_pct(1 - exposure)}). "
        f"<b>Published regime</b> {html.escape(regime)}; <b>reference regime</b> "
        + (f"{html.escape(ref_regime)} (p = {ref_p:.2f})" if ref_regime else "not available")
        + f". <b>Drawdown</b> of the published strategy {_pct(current_dd)} now, "
        f"worst {_pct(max_dd)} since {published[0].date()} ({rebalance} rebalancing, "
        f"{cost_bps:g} bps).</p>",
    ]
    body = [
        *head,
        f"<h2>Weights by asset class {html.escape(since)}</h2>",
        html_table(by_class, floatfmt=".4f"),
        "<h2>Top drivers (SHAP)</h2>",
        html_table(drivers.set_index("target"), floatfmt=".4g")
        if len(drivers)
        else f"<p>No attributions stored for {day.date()}.</p>",
        "<h2>Trade list</h2>",
    ]
    trades_summary = None
    if trades is not None and not trades.empty:
        t = trades.loc[trades["traded"].astype(bool)]
        turnover = float(trades["order_notional"].abs().sum() / trades["nav"].iloc[0])
        cost = float(trades["est_cost"].sum())
        trades_summary = (
            f"{int((t['ticker'] != 'CASH').sum())} orders, turnover {_pct(turnover)} "
            f"(incl. cash leg), estimated cost {cost:,.2f}"
        )
        cols = ["ticker", "current_weight", "target_weight", "order_shares", "order_notional"]
        body += [
            f"<p>{html.escape(trades_summary)}</p>",
            html_table(t.set_index("ticker")[[*cols[1:], "est_cost"]], floatfmt=",.4f"),
        ]
    else:
        body.append("<p>No holdings configured (set the trade_list asset's holdings_file).</p>")
    body += ["<h2>Target weights</h2>", html_table(per, floatfmt=".4f")]
    path = atomic_write_text(
        Path(out_dir) / f"{day.date()}.html", html_page(f"riskalloc: {day.date()}", body)
    )
    return DailyReport(
        date=day,
        path=path,
        by_class=by_class,
        last_rebalance=prev_day,
        regime=regime,
        reference_regime=ref_regime,
        drawdown=current_dd,
        max_drawdown=max_dd,
        drivers=drivers,
        trades_summary=trades_summary,
    )


def daily_report_from_warehouse(
    con: object, md: MarketData, day: str | pd.Timestamp, out_dir: str | Path
) -> DailyReport:
    """Read the day's published weights, regimes, attributions and trade list; write the page."""
    from riskalloc.warehouse.catalog import table_exists
    from riskalloc.warehouse.reads import read_table

    day = pd.Timestamp(day)

    def day_rows(name: str) -> pd.DataFrame | None:
        return read_table(con, name, start=day, end=day) if table_exists(con, name) else None

    if not table_exists(con, "target_weights"):
        raise DataError("no target weights are published yet; materialise target_weights first")
    weights = read_table(con, "target_weights", end=day)
    regimes = read_table(con, "regimes", end=day) if table_exists(con, "regimes") else None
    return render_daily_report(
        day,
        weights,
        md,
        out_dir,
        regimes=regimes,
        shap=day_rows("shap_attributions"),
        trades=day_rows("trade_lists"),
    )
