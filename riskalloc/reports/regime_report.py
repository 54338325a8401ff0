"""Regime report: current regime, day-to-day transitions, time in each regime, plot, MD/HTML.

Works on any date × label probability frame (e.g. ``RegimeHMM.filter_probabilities``) and
also returns the ``regimes`` warehouse frame (date, regime, p_<label>...). The allocator's own
regime probabilities, already named after the reference states
(:mod:`riskalloc.reports.regime_names`), can be shown beside the reference.
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
    allocator_current: pd.Series | None = None
    agreement: float | None = None


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


def _stack(ax, probs: pd.DataFrame, title: str) -> None:
    """One stacked-probability panel in the regime colours."""
    colours = [_COLOURS.get(c, f"C{i}") for i, c in enumerate(probs.columns)]
    ax.stackplot(probs.index, probs.T.to_numpy(), labels=list(probs.columns), colors=colours)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.margins(x=0)
    ax.legend(loc="upper left", ncol=len(probs.columns), fontsize="small")
    ax.set_title(title)


def _plot(
    probs: pd.DataFrame, vix: pd.Series | None, path: Path, allocator: pd.DataFrame | None = None
) -> Path:
    """Stacked reference probabilities (VIX on a second axis), the allocator's below them."""
    if allocator is None or allocator.empty:
        fig, ax = new_figure(11.0, 4.0)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11.0, 7.0))
        ax, ax_alloc = fig.subplots(2, 1, sharex=True)
        a = allocator.reindex(columns=probs.columns, fill_value=0.0)
        _stack(ax_alloc, a, "Allocator's own regimes, named by the reference state they overlap")
    _stack(ax, probs, "Reference regime probabilities (filtered)")
    if vix is not None:
        v = pd.Series(vix).reindex(probs.index)
        ax2 = ax.twinx()
        ax2.plot(v.index, v.to_numpy(dtype=float), color="black", linewidth=0.7, label="VIX")
        ax2.set_ylabel(str(v.name or "VIX"))
    return save_figure(fig, path)


def regime_report(
    probs: pd.DataFrame,
    out_dir: str | Path,
    vix: pd.Series | None = None,
    title: str = "Regime report",
    allocator: pd.DataFrame | None = None,
    notes: list[str] | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
) -> RegimeReport:
    """Summarise regime probabilities and write ``regimes.png``, ``regime_report.md``/``.html``.

    ``allocator``: the allocator's named regime probabilities (date × reference label), shown
    beside the reference with the share of dates on which both name the same dominant state.
    ``notes``: extra paragraphs (e.g. how the reference was selected); ``tables``: extra
    titled tables (e.g. the share of days per state in named periods).
    """
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
    alloc = None
    if allocator is not None and not allocator.empty:
        alloc = _check_probs(allocator.reindex(columns=labels, fill_value=0.0))
    png = _plot(p, vix, out / "regimes.png", alloc)
    extra_md: list[str] = [*(notes or [])]
    extra_html: list[str] = [f"<p>{n.replace('**', '')}</p>" for n in notes or []]
    for name, table in (tables or {}).items():
        extra_md += [f"## {name}\n", markdown_table(table, floatfmt=".2f")]
        extra_html += [f"<h2>{name}</h2>", html_table(table, floatfmt=".2f")]
    alloc_now, agreement = None, None
    if alloc is not None:
        both = alloc.index.intersection(p.index)
        agreement = float((alloc.loc[both].idxmax(axis=1) == regime.loc[both]).mean())
        alloc_now = alloc.iloc[-1].rename("probability")
        line = (
            f"The allocator's own regimes, each named after the reference state it overlaps "
            f"most on its training dates, agree with the reference's dominant state on "
            f"{agreement:.0%} of {len(both)} dates; on {alloc.index[-1].date()} the allocator "
            f"reads **{alloc_now.idxmax()}** (p = {alloc_now.max():.2f})."
        )
        now_alloc = alloc.iloc[[-1]].rename(index=lambda d: d.date())
        extra_md += ["## The allocator's regimes\n", line + "\n", markdown_table(now_alloc)]
        extra_html += [
            "<h2>The allocator's regimes</h2>",
            f"<p>{line.replace('**', '')}</p>",
            html_table(now_alloc),
        ]

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
            *extra_md,
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
            *extra_html,
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
        allocator_current=alloc_now,
        agreement=agreement,
    )
