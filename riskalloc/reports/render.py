"""Small rendering helpers: atomic file writes, Markdown/HTML tables and pages, PNG figures.

Every file is written to a temporary name in the target directory and then moved into
place with ``os.replace``, so a reader never sees a half-written report.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pandas as pd

from riskalloc.atomic import atomic_path, atomic_write_text

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "html_page",
    "html_table",
    "markdown_table",
    "new_figure",
    "save_figure",
    "slug",
]

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th{background:#f3f3f3}img{max-width:100%}"
)


def slug(text: str) -> str:
    """A lowercase file/column-safe name: ``Risk Budget!`` → ``risk_budget``."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text)).strip("_").lower()
    return s or "x"


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (no pyplot: figures are plain Agg objects)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)


def new_figure(width: float = 10.0, height: float = 4.0) -> tuple[Any, Any]:
    """A figure and axes on the non-interactive Agg backend (safe on servers, in threads)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def _fmt(v: object, floatfmt: str) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else format(v, floatfmt)
    if isinstance(v, pd.Timestamp):
        return str(v.date()) if v == v.normalize() else str(v)
    return str(v)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f", index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (no ``tabulate`` dependency)."""
    frame = df.reset_index() if index else df
    header = [str(c) for c in frame.columns]
    rows = [[_fmt(v, floatfmt).replace("|", "\\|") for v in r] for r in frame.itertuples(False)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def html_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """An HTML table with fixed float formatting."""
    return df.to_html(float_format=lambda v: format(v, floatfmt), na_rep="", border=0)


def html_page(title: str, body: list[str]) -> str:
    """A self-contained HTML page from already-rendered body fragments."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )
