"""Regime report: current regime, day-to-day transitions, time in each regime, plot, MD/HTML.

Works on any date × label probability frame (e.g. ``RegimeHMM.filter_probabilities``) and
also returns the ``regimes`` warehouse frame (date, regime, p_<label>...).
"""

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

_COLOURS = {"calm": "#4caf50", "normal": "#90a4ae", "elevated": "#ffb300", "stress": "#e53935"}


@dataclass(frozen=True)
class RegimeReport:
    """What the report says, plus the warehouse frame and the files written."""

    as_of: pd.Timestamp
    current_regime: str
    current_probabilities: pd.Series
    current_spell_days: int
    transition_counts: pd.DataFrame
    transition_probabilities: pd.DataFrame
    time_in_regime: pd.DataFrame
    regimes: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _check_probs(probs: pd.DataFrame) -> pd.DataFrame:
    """Validate a date × label probability frame; rows must be distributions."""
    if probs.empty or probs.shape[1] < 2:
        raise DataError("regime probabilities need at least one date and two regimes")
    p = probs.copy()
    p.index = pd.DatetimeIndex(pd.to_datetime(p.index), name="date")
    if not p.index.is_monotonic_increasing or p.index.has_duplicates:
        raise DataError("regime probabilities need strictly increasing dates")
    vals = p.to_numpy(dtype=float)
    if not np.isfinite(vals).all():
        bad = p.index[~np.isfinite(vals).all(axis=1)][0]
        raise DataError(f"regime probabilities are NaN/inf on {bad.date()}")
    off = np.abs(vals.sum(axis=1) - 1.0)
    if off.max() > 1e-6 or vals.min() < -1e-12:
        bad = p.index[int(off.argmax())]
        raise DataError(f"regime probabilities on {bad.date()} are not a distribution")
    p.columns = [str(c) for c in p.columns]
    return p


def dominant_regime(probs: pd.DataFrame) -> pd.Series:
    """The most probable regime per date (first label wins ties)."""
    return _check_probs(probs).idxmax(axis=1).rename("regime")


def regimes_frame(probs: pd.DataFrame) -> pd.DataFrame:
    """The ``regimes`` warehouse rows: date, regime (argmax), p_<label> per regime."""
    p = _check_probs(probs)
    out = p.rename(columns={c: f"p_{slug(c)}" for c in p.columns})
    out.insert(0, "regime", p.idxmax(axis=1))
    return out.reset_index()


def transition_tables(regime: pd.Series, labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and row-normalised empirical probabilities of day-to-day regime moves (from → to)."""
    prev, nxt = regime.iloc[:-1].to_numpy(), regime.iloc[1:].to_numpy()
    counts = (
        pd.crosstab(pd.Series(prev, name="from"), pd.Series(nxt, name="to"))
        .reindex(index=labels, columns=labels, fill_value=0)
        .astype(int)
    )
    counts.index.name, counts.columns.name = "from", "to"
    totals = counts.sum(axis=1)
    probs = counts.div(totals.where(totals > 0), axis=0)
    return counts, probs


def _spells(regime: pd.Series) -> pd.DataFrame:
    """Run-length encoding of the regime path: one row per uninterrupted spell."""
    change = regime.ne(regime.shift()).cumsum()
    g = regime.groupby(change)
    return pd.DataFrame({"regime": g.first(), "days": g.size()}).reset_index(drop=True)


def time_in_regime(regime: pd.Series, labels: list[str]) -> pd.DataFrame:
    """Days, share of days, spell count, mean and longest spell (in days) per regime."""
    sp = _spells(regime)
    days = regime.value_counts().reindex(labels, fill_value=0)
    by = sp.groupby("regime")["days"]
    out = pd.DataFrame(
        {
            "days": days.astype(int),
            "share": days / max(len(regime), 1),
            "spells": by.size().reindex(labels, fill_value=0).astype(int),
            "mean_spell_days": by.mean().reindex(labels),
            "longest_spell_days": by.max().reindex(labels).fillna(0).astype(int),
        }
    )
    out.index.name = "regime"
    return out


def _plot(probs: pd.DataFrame, vix: pd.Series | None, path: Path) -> Path:
    """Stacked regime probabilities over time, VIX on a second axis when given."""
    fig, ax = new_figure(11.0, 4.0)
    colours = [_COLOURS.get(c, f"C{i}") for i, c in enumerate(probs.columns)]
    ax.stackplot(probs.index, probs.T.to_numpy(), labels=list(probs.columns), colors=colours)
    ax.set_ylim(0, 1)
    ax.set_ylabel("filtered probability")
    ax.margins(x=0)
    if vix is not None:
        v = pd.Series(vix).reindex(probs.index)
        ax2 = ax.twinx()
        ax2.plot(v.index, v.to_numpy(dtype=float), color="black", linewidth=0.7, label="VIX")
        ax2.set_ylabel(str(v.name or "VIX"))
    ax.legend(loc="upper left", ncol=len(probs.columns), fontsize="small")
    ax.set_title("Regime probabilities")
    return save_figure(fig, path)


def regime_report(
    probs: pd.DataFrame,
    out_dir: str | Path,
    vix: pd.Series | None = None,
    title: str = "Regime report",
) -> RegimeReport:
    """Summarise regime probabilities and write ``regimes.png``, ``regime_report.md``/``.html``."""
    p = _check_probs(probs)
    labels = list(p.columns)
    regime = p.idxmax(axis=1).rename("regime")
    counts, tprobs = transition_tables(regime, labels)
    tir = time_in_regime(regime, labels)
    spells = _spells(regime)
    as_of = p.index[-1]
    current = str(regime.iloc[-1])
    spell_days = int(spells["days"].iloc[-1])
    out = Path(out_dir)
    png = _plot(p, vix, out / "regimes.png")

    head = (
        f"As of **{as_of.date()}** the dominant regime is **{current}** "
        f"(for {spell_days} trading days). Data: {p.index[0].date()} to {as_of.date()}, "
        f"{len(p)} dates."
    )
    now = p.iloc[[-1]].rename(index=lambda d: d.date())
    md = "\n".join(
        [
            f"# {title}\n",
            head + "\n",
            "## Current probabilities\n",
            markdown_table(now),
            "## Time in regime\n",
            markdown_table(tir),
            "## Day-to-day transitions (counts, from → to)\n",
            markdown_table(counts),
            "## Day-to-day transitions (empirical probabilities)\n",
            markdown_table(tprobs),
            f"![regime probabilities]({png.name})\n",
        ]
    )
    page = html_page(
        title,
        [
            f"<p>{head.replace('**', '')}</p>",
            "<h2>Current probabilities</h2>",
            html_table(now),
            "<h2>Time in regime</h2>",
            html_table(tir),
            "<h2>Day-to-day transitions (counts, from → to)</h2>",
            html_table(counts),
            "<h2>Day-to-day transitions (empirical probabilities)</h2>",
            html_table(tprobs),
            f"<img src='{png.name}' alt='regime probabilities'>",
        ],
    )
    files = {
        "png": png,
        "markdown": atomic_write_text(out / "regime_report.md", md),
        "html": atomic_write_text(out / "regime_report.html", page),
    }
    return RegimeReport(
        as_of=as_of,
        current_regime=current,
        current_probabilities=p.iloc[-1].rename("probability"),
        current_spell_days=spell_days,
        transition_counts=counts,
        transition_probabilities=tprobs,
        time_in_regime=tir,
        regimes=regimes_frame(p),
        files=files,
    )
