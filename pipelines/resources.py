"""Dagster resources: the warehouse (a dagster-duckdb resource) and the data source."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from riskalloc.universe import Universe, load_universe
from riskalloc.warehouse import Warehouse
from riskalloc.warehouse.connection import connect_with_wait

DEFAULT_DB = os.environ.get("RISKALLOC_DB", "warehouse/riskalloc.duckdb")


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse; its folder also holds the Parquet mirror and model artefacts.

    Connections wait for another writer (up to ``lock_wait_seconds``), then fail with an
    error naming the file, and are always closed.
    """

    lock_wait_seconds: float = Field(60.0, description="How long to wait for a DuckDB lock.")

    def warehouse(self) -> Warehouse:
        """The library-side warehouse for this database path."""
        return Warehouse.from_db_path(self.database)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed in ``finally``."""
        wh = self.warehouse()
        wh.root.mkdir(parents=True, exist_ok=True)
        con = connect_with_wait(wh.db_path, wait_seconds=self.lock_wait_seconds)
        try:
            yield con
        finally:
            con.close()


class SourceResource(dg.ConfigurableResource):
    """Where prices and macro data come from: ``sample`` (bundled), ``yahoo``/``fred`` or ``files``.

    With ``source="live"`` prices come from Yahoo and macro series from FRED.
    """

    source: str = Field("sample", description="sample | live (yahoo + fred) | yahoo | fred | files")
    universe_file: str | None = Field(
        None, description="Universe YAML; empty = the bundled sample universe."
    )
    prices_path: str | None = Field(None, description="For source=files: prices CSV/Parquet.")
    macro_path: str | None = Field(None, description="For source=files: macro CSV/Parquet.")
    fred_api_key: str | None = Field(
        None, description="FRED key; set through EnvVar('FRED_API_KEY'), never in plain text."
    )

    def universe(self) -> Universe:
        """The configured universe."""
        return load_universe(self.universe_file or None)

    def price_source(self):
        """The library source for prices."""
        from riskalloc.sources import make_source

        name = {"live": "yahoo", "fred": "sample"}.get(self.source, self.source)
        if name == "files":
            return make_source("files", prices_path=self.prices_path, macro_path=self.macro_path)
        return make_source(name)

    def macro_source(self):
        """The library source for macro series."""
        from riskalloc.sources import make_source

        name = {"live": "fred", "yahoo": "sample"}.get(self.source, self.source)
        if name == "files":
            return make_source("files", prices_path=self.prices_path, macro_path=self.macro_path)
        if name == "fred":
            return make_source("fred", api_key=self.fred_api_key)
        return make_source(name)
