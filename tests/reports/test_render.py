"""Rendering helpers: atomic writes keep the old file on failure; Markdown tables escape pipes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskalloc.reports.render import atomic_path, atomic_write_text, markdown_table, slug


def test_atomic_write_replaces_and_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.md"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]


def test_markdown_table_formats_and_escapes() -> None:
    df = pd.DataFrame({"a|b": [1.23456, float("nan")], "n": [1, 2]}, index=["x", "y|z"])
    md = markdown_table(df, floatfmt=".2f")
    lines = md.strip().splitlines()
    assert lines[0] == "| index | a|b | n |"
    assert lines[2] == "| x | 1.23 | 1 |"
    assert lines[3] == "| y\\|z |  | 2 |"
    assert slug("Risk Budget!") == "risk_budget"
