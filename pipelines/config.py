"""Launchpad config: what a user may change per run."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class IngestConfig(dg.Config):
    """Date range and mode of an ingest run."""

    start: str | None = Field(None, description="First date (YYYY-MM-DD); empty = all history.")
    end: str | None = Field(None, description="Last date (YYYY-MM-DD); empty = up to today.")
    incremental: bool = Field(
        True, description="Fetch only dates after the last stored one (with a small overlap)."
    )
