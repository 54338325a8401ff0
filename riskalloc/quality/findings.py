"""The result type every data-quality check returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class CheckOutcome:
    """Outcome of one check: pass/fail, a message naming what is wrong, offending rows."""

    name: str
    passed: bool
    message: str
    severity: Severity = "error"
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    def preview(self, limit: int = 20) -> str:
        """Markdown preview of the offending rows (for Dagster metadata)."""
        if self.rows.empty:
            return ""
        return self.rows.head(limit).to_markdown(index=False)
