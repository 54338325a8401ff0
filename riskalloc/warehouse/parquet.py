"""The Parquet mirror: one file per table and year, replaced atomically.

Files are written to a temporary name beside their target and moved into place with
``os.replace`` only after the DuckDB transaction commits, so readers always see a
complete file (old or new), never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_FILE = "part-0.parquet"


JOURNAL = ".publish-pending"


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A Parquet file written to ``tmp`` and waiting to replace ``final``.

    ``tmp=None`` stages a removal: the partition has no rows left, so ``final`` is deleted.
    """

    tmp: Path | None
    final: Path


def partition_path(parquet_dir: Path, table: str, year: int | None) -> Path:
    """Target path: ``<dir>/<table>/year=<YYYY>/part-0.parquet`` (or no year level)."""
    base = parquet_dir / table
    return (base / f"year={year}" / PART_FILE) if year is not None else base / PART_FILE


def stage_table(data: pa.Table, final: Path) -> StagedFile:
    """Write ``data`` to a hidden temp file next to ``final`` and fsync it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(data, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StagedFile(tmp, final)


def stage_removal(final: Path) -> StagedFile:
    """Stage the deletion of a partition file whose rows are all gone."""
    return StagedFile(None, final)


def publish(staged: list[StagedFile]) -> None:
    """Move staged files into place (each move is atomic on POSIX); idempotent."""
    for s in staged:
        if s.tmp is None:
            s.final.unlink(missing_ok=True)
        elif s.tmp.exists() or not s.final.exists():
            os.replace(s.tmp, s.final)


def discard(staged: list[StagedFile]) -> None:
    """Delete staged temp files after a failed write."""
    for s in staged:
        if s.tmp is not None:
            with contextlib.suppress(OSError):
                s.tmp.unlink(missing_ok=True)


def journal_path(parquet_dir: Path, table: str) -> Path:
    """Marker saying a commit of ``table`` may not have reached its mirror yet."""
    return parquet_dir / table / JOURNAL


def pending_tables(parquet_dir: Path) -> list[str]:
    """Tables whose last write died between the DuckDB commit and the mirror publish."""
    if not parquet_dir.exists():
        return []
    return sorted(p.parent.name for p in parquet_dir.glob(f"*/{JOURNAL}"))


def clean_stale_temp(parquet_dir: Path) -> int:
    """Delete temp files left by a writer that was killed mid-write; returns how many.

    Only called while holding the DuckDB write lock, so no live writer owns them.
    """
    n = 0
    if not parquet_dir.exists():
        return 0
    for p in parquet_dir.rglob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n
