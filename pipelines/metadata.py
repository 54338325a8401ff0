"""Materialisation metadata helpers: row counts, date ranges, Markdown previews."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def table_preview(df: pd.DataFrame, limit: int = 10) -> dg.MetadataValue:
    """A Markdown preview of the first rows of ``df``."""
    if df.empty:
        return dg.MetadataValue.md("_(no rows)_")
    shown = df.head(limit).copy()
    for c in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[c]):
            shown[c] = shown[c].dt.strftime("%Y-%m-%d")
    return dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".6g"))


def date_range(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    """``YYYY-MM-DD .. YYYY-MM-DD`` or ``-``."""
    if first is None or last is None:
        return "-"
    return f"{pd.Timestamp(first).date()} .. {pd.Timestamp(last).date()}"
