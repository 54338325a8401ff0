"""SHAP report: mean |SHAP| per feature, overall and per regime, as PNG bars and MD/HTML tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskalloc.errors import DataError
from riskalloc.reports.render import (
    atomic_write_text,
    html_page,
    html_table,
    markdown_table,
    new_figure,
    save_figure,
    slug,
)
from riskalloc.reports.shap_attributions import BASE_FEATURE, aggregate_by_regime

OVERALL = "overall"
_KNOWN_ORDER = ("calm", "normal", "elevated", "stress")


@dataclass(frozen=True)
class ShapReport:
    """Per target: a feature × (overall, regime...) table of mean |SHAP|; files written."""

    tables: dict[str, pd.DataFrame]
    by_regime: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _regime_order(labels: list[str]) -> list[str]:
    """calm, normal, elevated, stress first (in that order), then any others alphabetically."""
    rank = {k: i for i, k in enumerate(_KNOWN_ORDER)}
    return sorted(set(labels), key=lambda s: (rank.get(s, len(rank)), s))


def shap_tables(shap_long: pd.DataFrame, regimes: pd.Series) -> dict[str, pd.DataFrame]:
    """Mean |SHAP| per target: rows features (largest overall first), columns overall + regimes.

    "overall" averages every date in ``shap_long``; regime columns only dates with a label.
    """
    dates = pd.to_datetime(shap_long["date"]).unique()
    every = pd.Series(OVERALL, index=pd.DatetimeIndex(dates))
    overall = aggregate_by_regime(shap_long, every)
    per = aggregate_by_regime(shap_long, regimes)
    both = pd.concat([overall, per], ignore_index=True)
    cols = [OVERALL, *_regime_order([str(r) for r in per["regime"].unique()])]
    out = {}
    for target, g in both.groupby("target", sort=True):
        t = g.pivot(index="feature", columns="regime", values="mean_abs_shap")
        t = t.reindex(columns=[c for c in cols if c in t.columns])
        out[str(target)] = t.sort_values(OVERALL, ascending=False)
    return out


def _plot(table: pd.DataFrame, target: str, path: Path, top_n: int) -> Path:
    """Horizontal grouped bars: top features by overall mean |SHAP|, one bar per column."""
    t = table.head(top_n).iloc[::-1]
    fig, ax = new_figure(8.0, 1.0 + 0.45 * len(t) * max(1, len(t.columns)) ** 0.5)
    y = np.arange(len(t))
    h = 0.8 / len(t.columns)
    for i, col in enumerate(t.columns):
        ax.barh(y + i * h - 0.4 + h / 2, t[col].fillna(0.0).to_numpy(), height=h, label=col)
    ax.set_yticks(y, [str(f) for f in t.index])
    ax.set_xlabel("mean |SHAP|")
    ax.set_title(f"{target}: mean |SHAP| per feature")
    ax.legend(loc="lower right", fontsize="small")
    return save_figure(fig, path)


def shap_report(
    shap_long: pd.DataFrame,
    regimes: pd.Series,
    out_dir: str | Path,
    top_n: int = 15,
    title: str = "SHAP attributions",
) -> ShapReport:
    """Write ``shap_<target>.png`` per target and ``shap_report.md``/``.html`` tables."""
    if shap_long.loc[shap_long["feature"] != BASE_FEATURE].empty:
        raise DataError("no SHAP attributions to report")
    tables = shap_tables(shap_long, regimes)
    out = Path(out_dir)
    files: dict[str, Path] = {}
    n_dates = pd.to_datetime(shap_long["date"]).nunique()
    intro = (
        f"Mean absolute SHAP value per feature over {n_dates} dates "
        "(tickers pooled within a target), overall and per regime."
    )
    md, body = [f"# {title}\n", intro + "\n"], [f"<p>{intro}</p>"]
    for target, table in tables.items():
        png = _plot(table, target, out / f"shap_{slug(target)}.png", top_n)
        files[f"png_{target}"] = png
        md += [
            f"## {target}\n",
            markdown_table(table, floatfmt=".4g"),
            f"![{target}]({png.name})\n",
        ]
        body += [
            f"<h2>{target}</h2>",
            html_table(table, floatfmt=".4g"),
            f"<img src='{png.name}' alt='{target}'>",
        ]
    files["markdown"] = atomic_write_text(out / "shap_report.md", "\n".join(md))
    files["html"] = atomic_write_text(out / "shap_report.html", html_page(title, body))
    return ShapReport(tables=tables, by_regime=aggregate_by_regime(shap_long, regimes), files=files)
