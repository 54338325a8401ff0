"""Data sources: the bundled sample, Yahoo Finance, FRED and the user's own files.

Every source returns long frames in the schema of :mod:`riskalloc.sources.schema`.
"""

from __future__ import annotations

from typing import Any

from riskalloc.errors import ConfigError
from riskalloc.sources.files import FileSource
from riskalloc.sources.fred import FredSource
from riskalloc.sources.sample import SampleSource
from riskalloc.sources.yahoo import YahooSource

SOURCES: dict[str, type] = {
    "sample": SampleSource,
    "yahoo": YahooSource,
    "fred": FredSource,
    "files": FileSource,
}

__all__ = ["SOURCES", "FileSource", "FredSource", "SampleSource", "YahooSource", "make_source"]


def make_source(name: str, **kwargs: Any) -> SampleSource | YahooSource | FredSource | FileSource:
    """Build a source by name ("sample", "yahoo", "fred" or "files") with its options."""
    cls = SOURCES.get(str(name).strip().lower())
    if cls is None:
        raise ConfigError(f"unknown source {name!r}; use one of {sorted(SOURCES)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"source {name!r}: bad options {sorted(kwargs)} ({exc})") from exc
