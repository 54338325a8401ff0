"""The warehouse folder and its DuckDB connections (waiting politely for another writer)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from riskalloc.errors import WarehouseError, WarehouseLockedError

DB_FILE = "riskalloc.duckdb"


def resolve_inside(root: Path, relative: str | Path) -> Path:
    """Resolve ``relative`` under ``root``; a path that escapes the root is an error."""
    root_r = Path(root).resolve()
    p = (root_r / relative).resolve()
    if p != root_r and root_r not in p.parents:
        raise WarehouseError(f"path {str(relative)!r} escapes the warehouse root {root_r}")
    return p


@dataclass(frozen=True)
class Warehouse:
    """A warehouse folder: ``riskalloc.duckdb``, ``parquet/`` mirror and ``models/``."""

    root: Path
    db_file: str = DB_FILE

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if Path(self.db_file).name != self.db_file:
            raise WarehouseError(f"db_file {self.db_file!r} must be a file name, not a path")

    @classmethod
    def from_db_path(cls, db_path: str | Path) -> Warehouse:
        """The warehouse whose DuckDB file is ``db_path`` (its folder is the root)."""
        p = Path(db_path)
        return cls(p.parent, p.name)

    @property
    def db_path(self) -> Path:
        """The DuckDB file."""
        return self.root / self.db_file

    @property
    def parquet_dir(self) -> Path:
        """Root of the Parquet mirror."""
        return self.root / "parquet"

    @property
    def models_dir(self) -> Path:
        """Root of versioned model artefacts."""
        return self.root / "models"

    @contextmanager
    def connect(
        self, read_only: bool = False, wait_seconds: float = 30.0
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the DuckDB file, waiting up to ``wait_seconds`` for another writer.

        Raises :class:`WarehouseLockedError` naming the file if the lock is still held.
        The connection is always closed, also when the body raises.
        """
        if read_only and not self.db_path.exists():
            raise WarehouseError(f"no warehouse at {self.db_path}; run the ingest first")
        self.root.mkdir(parents=True, exist_ok=True)
        con = connect_with_wait(self.db_path, read_only=read_only, wait_seconds=wait_seconds)
        try:
            yield con
        finally:
            con.close()


def connect_with_wait(
    path: Path, read_only: bool = False, wait_seconds: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with retries while another process holds the file lock."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"warehouse {path} is locked by another process; wait for the other "
                    f"run to finish (waited {wait_seconds:.0f} s). DuckDB said: {exc}"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
