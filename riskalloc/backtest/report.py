"""Backtest report files: equity-curve and drawdown PNGs plus a Markdown and HTML metrics table.

Uses matplotlib's object API with the Agg canvas, so no display and no global backend change.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from riskalloc.backtest.metrics import HEADLINE, drawdown_series


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else f"{v:.4f}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (floats to 4 decimals)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


# 20 distinct colours (tab20 reordered: the dark shades first) and 12 dash patterns: every
# strategy gets its own colour *and* line style, readable in greyscale and by colour-blind readers
_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
_DASHES = (
    "-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (5, 5)),
    (0, (3, 5, 1, 5)), (0, (3, 1, 1, 1)), (0, (5, 2, 1, 2, 1, 2)), (0, (8, 2)),
)  # fmt: skip


def strategy_styles(names: list[str]) -> dict[str, dict[str, object]]:
    """A distinct (colour, line style) per strategy, in order; ``riskalloc`` drawn thicker."""
    out: dict[str, dict[str, object]] = {}
    for i, name in enumerate(names):
        colour = _COLOURS[i % len(_COLOURS)]
        dash = _DASHES[i % len(_DASHES)]
        out[name] = {
            "color": colour,
            "linestyle": dash,
            "linewidth": 2.0 if name == "riskalloc" else 1.1,
        }
    return out


def _plot(series: pd.DataFrame, title: str, ylabel: str, path: Path) -> Path:
    fig = Figure(figsize=(10, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    styles = strategy_styles([str(c) for c in series.columns])
    for col in series.columns:
        ax.plot(series.index, series[col].to_numpy(), label=str(col), **styles[str(col)])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_report(
    returns: pd.DataFrame,
    metrics: pd.DataFrame,
    out_dir: str | Path,
    title: str = "Backtest",
) -> dict[str, Path]:
    """Write the report into ``out_dir``.

    ``returns``: wide daily net returns (one column per strategy); ``metrics``: rows with at
    least ``strategy`` and ``period``. Returns the paths written by kind.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    dd = returns.fillna(0.0).apply(drawdown_series)
    paths = {
        "equity_curve": _plot(wealth, f"{title}: growth of 1", "wealth", out / "equity_curve.png"),
        "drawdown": _plot(dd, f"{title}: drawdown", "drawdown", out / "drawdown.png"),
    }
    keys = [
        c
        for c in ("strategy", "period", "cost_bps", "rebalance", "seed", "risk_measure")
        if c in metrics.columns
    ]
    table = metrics.loc[:, keys + [c for c in HEADLINE if c in metrics.columns]]
    first = str(table["period"].iloc[0]) if len(table) else ""
    head = table.loc[table["period"] == first]
    md = [
        f"# {title}\n",
        f"## Headline ({first})\n",
        markdown_table(head),
        "\n## All periods\n",
        markdown_table(table),
        "\n![equity curve](equity_curve.png)\n",
        "![drawdown](drawdown.png)\n",
    ]
    paths["markdown"] = out / "metrics.md"
    paths["markdown"].write_text("\n".join(md))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><h2>Headline ({html.escape(first)})</h2>"
        + head.to_html(index=False, float_format=lambda v: f"{v:.4f}")
        + "<h2>All periods</h2>"
        + table.to_html(index=False, float_format=lambda v: f"{v:.4f}")
        + "<p><img src='equity_curve.png'></p><p><img src='drawdown.png'></p></body></html>"
    )
    paths["html"] = out / "metrics.html"
    paths["html"].write_text(page)
    return paths
